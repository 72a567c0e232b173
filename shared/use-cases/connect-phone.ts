import { CONNECTOR_ID, lineNameFor, smsSenderCodeFor } from "../domain/bitrix-connector.ts";
import type { Logger } from "../logger.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { BitrixStore, PhoneRecord, PortalRecord } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import { smsHandlerUrl } from "./setup-portal.ts";

export interface ConnectPhoneDeps {
  readonly store: BitrixStore;
  readonly bitrix: BitrixGateway;
  readonly clock: Clock;
  readonly linePrefix: string;
  readonly logger: Logger;
  /** Re-registers what lists the portal's numbers (the CRM robot) once a number changed. */
  readonly afterConnect?: (portal: PortalRecord) => Promise<unknown>;
}

/**
 * Connecting a WhatsApp number to its portal, every step idempotent so a retry continues where a failure
 * stopped (the line id is stored as soon as it is known, so a retry never creates a second line).
 */
export function makeConnectPhone({
  store,
  bitrix,
  clock,
  linePrefix,
  logger,
  afterConnect,
}: ConnectPhoneDeps) {
  const now = () => clock.now().toISOString();

  async function save(phone: PhoneRecord, previous: PhoneRecord): Promise<PhoneRecord> {
    const next = { ...phone, updatedAt: now() };
    await store.putPhone(next, previous);
    return next;
  }

  /** The open line named `separator_<digits>`: the stored one, else one found by name, else a new one. */
  async function ensureLine(phone: PhoneRecord): Promise<{ id: number; name: string }> {
    if (phone.line) return phone.line;
    const name = lineNameFor(linePrefix, phone.phone);
    const found = await bitrix.call<{ ID: string | number }[]>(
      phone.memberId,
      "imopenlines.config.list.get",
      {
        PARAMS: { select: ["ID", "LINE_NAME"], filter: { LINE_NAME: name } },
      },
    );
    const existing = found?.[0]?.ID;
    if (existing !== undefined) return { id: Number(existing), name };
    const created = await bitrix.call<number | string>(phone.memberId, "imopenlines.config.add", {
      PARAMS: { LINE_NAME: name, ACTIVE: "Y" },
    });
    return { id: Number(created), name };
  }

  /**
   * 1. Find or create the open line and store it.
   * 2. In one batch: activate our connector on the line, set its data (which number), read its status.
   * 3. Register (or update, or remove) the SMS sender as `smsService` asks.
   * The phone records the outcome: connector `active`, or `error` with Bitrix24's message.
   */
  async function connect(phone: PhoneRecord, portal: PortalRecord | undefined): Promise<PhoneRecord> {
    let current = phone;
    if (portal?.status !== "installed") {
      return save(
        {
          ...current,
          connector: { status: "error", error: `Bitrix24 app is not installed on portal ${phone.memberId}` },
        },
        current,
      );
    }
    try {
      const line = await ensureLine(current);
      if (current.line?.id !== line.id)
        current = await save({ ...current, line, connector: { status: "pending" } }, current);
      const digits = current.phone.replace(/\D/g, "");
      const { result, errors } = await bitrix.batch(
        current.memberId,
        {
          activate: {
            method: "imconnector.activate",
            params: { CONNECTOR: CONNECTOR_ID, LINE: line.id, ACTIVE: 1 },
          },
          data: {
            method: "imconnector.connector.data.set",
            params: {
              CONNECTOR: CONNECTOR_ID,
              LINE: line.id,
              DATA: {
                ID: current.phoneId,
                NAME: `WhatsApp ${current.phone}`,
                URL: `https://wa.me/${digits}`,
                URL_IM: `https://wa.me/${digits}`,
              },
            },
          },
          status: { method: "imconnector.status", params: { CONNECTOR: CONNECTOR_ID, LINE: line.id } },
        },
        true,
      );
      const failed = Object.entries(errors)[0];
      const status = result.status as { STATUS?: unknown } | undefined;
      const connector: PhoneRecord["connector"] = failed
        ? {
            status: "error",
            error: `${failed[0]}: ${failed[1].error} ${failed[1].error_description ?? ""}`.trim(),
          }
        : status?.STATUS === true || status?.STATUS === "1" || status?.STATUS === "Y"
          ? { status: "active" }
          : { status: "error", error: `Bitrix24 reports the connector is not active on line ${line.id}` };
      current = await save({ ...current, connector }, current);
    } catch (error) {
      current = await save(
        { ...current, connector: { status: "error", error: (error as Error).message } },
        current,
      );
    }
    const connected = await syncSmsSender(current, portal);
    await afterConnect?.(portal);
    return connected;
  }

  /** `smsService` on: the sender exists with our handler URL (updated when it already exists); off: gone. */
  async function syncSmsSender(phone: PhoneRecord, portal: PortalRecord): Promise<PhoneRecord> {
    const code = smsSenderCodeFor(phone.phoneId);
    try {
      const existing = (await bitrix.call<string[]>(phone.memberId, "messageservice.sender.list")) ?? [];
      if (!phone.smsService) {
        if (existing.includes(code))
          await bitrix.call(phone.memberId, "messageservice.sender.delete", { CODE: code });
        return phone.smsSender ? save({ ...phone, smsSender: null }, phone) : phone;
      }
      const sender = { CODE: code, HANDLER: smsHandlerUrl(portal), NAME: `WhatsApp ${phone.phone}` };
      if (existing.includes(code)) await bitrix.call(phone.memberId, "messageservice.sender.update", sender);
      else
        await bitrix.call(phone.memberId, "messageservice.sender.add", {
          ...sender,
          TYPE: "SMS",
          DESCRIPTION: "WhatsApp templates: NAME+LANG, e.g. hello_world+en_US",
        });
      return save({ ...phone, smsSender: { code, status: "registered" } }, phone);
    } catch (error) {
      return save({ ...phone, smsSender: { code, status: "error", error: (error as Error).message } }, phone);
    }
  }

  /**
   * Releases a number's line and sender on a portal (phone deleted or moved). Best effort: the portal
   * may be gone; what fails is logged, and Bitrix24 shows the line as disconnected either way.
   */
  async function release(memberId: string, line: { id: number } | null, phoneId: string): Promise<void> {
    const calls: Record<string, { method: string; params: Record<string, unknown> }> = {
      sender: { method: "messageservice.sender.delete", params: { CODE: smsSenderCodeFor(phoneId) } },
    };
    if (line)
      calls.deactivate = {
        method: "imconnector.activate",
        params: { CONNECTOR: CONNECTOR_ID, LINE: line.id, ACTIVE: 0 },
      };
    try {
      const { errors } = await bitrix.batch(memberId, calls);
      const real = Object.entries(errors).filter(([, e]) => e.error !== "ERROR_SENDER_NOT_FOUND");
      if (real.length)
        logger.warn("releasing phone on portal partly failed", { memberId, phoneId, errors: real });
    } catch (error) {
      logger.warn("could not release phone on portal", { memberId, phoneId, error });
    }
  }

  return { connect, syncSmsSender, release };
}
