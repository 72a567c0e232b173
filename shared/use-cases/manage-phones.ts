import { toE164 } from "../domain/bitrix-connector.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import type { BitrixStore, PhoneRecord } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { Page, WabaStore } from "../ports/store.ts";
import type { PhoneCreateBody, PhonePatchBody } from "../schemas/admin.ts";
import { toCallingView } from "./calling-settings.ts";
import type { makeConnectPhone } from "./connect-phone.ts";

export interface ManagePhonesDeps {
  readonly store: BitrixStore;
  readonly wabas: WabaStore;
  readonly connector: ReturnType<typeof makeConnectPhone>;
  readonly clock: Clock;
}

export function toPhoneView(phone: PhoneRecord) {
  return { ...phone, calling: toCallingView(phone.calling) };
}

function normalise(raw: string): string {
  const e164 = toE164(raw);
  if (!e164)
    throw new ValidationError("phone: not a phone number in international form, e.g. +77001234567", [
      { path: ["phone"] },
    ]);
  return e164;
}

export function makeManagePhones({ store, wabas, connector, clock }: ManagePhonesDeps) {
  async function requireWaba(wabaId: string): Promise<void> {
    if (!(await wabas.getWaba(wabaId))) {
      throw new ValidationError(`wabaId: no WABA ${wabaId}; add it first`, [{ path: ["wabaId"] }]);
    }
  }

  async function requirePortal(memberId: string) {
    const portal = await store.getPortal(memberId);
    if (portal?.status !== "installed") {
      throw new ValidationError(`memberId: no installed Bitrix24 portal ${memberId}; install the app first`, [
        { path: ["memberId"] },
      ]);
    }
    return portal;
  }

  async function get(phoneId: string): Promise<PhoneRecord> {
    const phone = await store.getPhone(phoneId);
    if (!phone) throw new NotFoundError(`Phone ${phoneId} not found`);
    return phone;
  }

  return {
    get,

    list(cursor: string | undefined, limit: number): Promise<Page<PhoneRecord>> {
      return store.listPhones(cursor, limit);
    },

    /**
     * 1. Validate: the number in E.164, the WABA and the installed portal exist, the phone id is new (409).
     * 2. Store the phone as `pending`, then connect it on the portal (line, connector, SMS sender).
     */
    async create(body: PhoneCreateBody): Promise<PhoneRecord> {
      const phone = normalise(body.phone);
      await requireWaba(body.wabaId);
      const portal = await requirePortal(body.memberId);
      const now = clock.now().toISOString();
      const record: PhoneRecord = {
        phone,
        phoneId: body.phoneId,
        wabaId: body.wabaId,
        memberId: body.memberId,
        smsService: body.smsService,
        readReceipts: body.readReceipts,
        typingIndicator: body.typingIndicator,
        line: null,
        connector: { status: "pending" },
        smsSender: null,
        createdAt: now,
        updatedAt: now,
      };
      await store.createPhone(record);
      return connector.connect(record, portal);
    },

    /**
     * Any change (even none) connects again: that is how a phone detached in Bitrix24 is re-attached.
     * A move to another portal first points the phone at the new portal (so the old line's
     * disconnection echo no longer finds it), then releases the old line and sender.
     */
    async update(phoneId: string, patch: PhonePatchBody): Promise<PhoneRecord> {
      const previous = await get(phoneId);
      if (patch.wabaId) await requireWaba(patch.wabaId);
      const moving = patch.memberId !== undefined && patch.memberId !== previous.memberId;
      const portal = moving
        ? await requirePortal(patch.memberId as string)
        : await store.getPortal(previous.memberId);
      const renumbered = patch.phone !== undefined && normalise(patch.phone) !== previous.phone;
      const next: PhoneRecord = {
        ...previous,
        phone: patch.phone ? normalise(patch.phone) : previous.phone,
        wabaId: patch.wabaId ?? previous.wabaId,
        memberId: patch.memberId ?? previous.memberId,
        smsService: patch.smsService ?? previous.smsService,
        readReceipts: patch.readReceipts ?? previous.readReceipts,
        typingIndicator: patch.typingIndicator ?? previous.typingIndicator,
        line: moving || renumbered ? null : previous.line,
        smsSender: moving ? null : previous.smsSender,
        connector: moving || renumbered ? { status: "pending" } : previous.connector,
        updatedAt: clock.now().toISOString(),
      };
      await store.putPhone(next, previous);
      if (moving || renumbered) await connector.release(previous.memberId, previous.line, previous.phoneId);
      return connector.connect(next, portal);
    },

    /** The record goes first, so the disconnection echo finds no phone; then the line and sender are released. */
    async remove(phoneId: string): Promise<void> {
      const phone = await get(phoneId);
      await store.deletePhone(phone);
      await connector.release(phone.memberId, phone.line, phone.phoneId);
    },
  };
}
