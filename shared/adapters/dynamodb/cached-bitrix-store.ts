import type { PhoneCalling, PhoneRecord, PortalRecord } from "../../ports/bitrix-store.ts";
import type { Clock } from "../../ports/clock.ts";
import { DynamoBitrixStore } from "./bitrix-store.ts";
import type { TableClient } from "./table-client.ts";

/**
 * The Bitrix24 store as a warm queue worker reads it: portals and phones are kept for a short while, so
 * a message does not read the same two items two or three times (route, rate profile, REST call).
 * Staleness is bounded and harmless: tokens another worker refreshed are picked up by the refresher's
 * version check when Bitrix24 refuses the old one, and a phone or portal changed elsewhere (reconnect,
 * uninstall) is seen within `ttlMs` — Bitrix24 refusing a message meanwhile is handled as it would
 * be anyway. Only records that can take messages are kept: a phone without its line or a portal not
 * installed is read again every time, so a reconnect followed by a redrive works at once. What this
 * process writes itself drops its cached copy at once.
 */
/** How long a queue worker trusts a portal or phone it read; what others change shows within this. */
export const WORKER_RECORD_TTL_MS = 5_000;

export class CachedBitrixStore extends DynamoBitrixStore {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #portals = new Map<string, { until: number; value: Promise<PortalRecord | undefined> }>();
  readonly #phones = new Map<string, { until: number; value: Promise<PhoneRecord | undefined> }>();
  readonly #cachePhones: boolean;
  /** `memberId:lineId` → the phone the line's pointer named, checked against the phone on every use. */
  readonly #linePhones = new Map<string, { until: number; phoneId: string }>();

  /**
   * `phones: false` reads every phone afresh (portals are still kept): for the outbound worker, whose
   * replies apply the number's settings (read receipts, typing indicator) as they are now.
   */
  constructor(tableClient: TableClient, clock: Clock, ttlMs: number, options: { phones?: boolean } = {}) {
    super(tableClient);
    this.#clock = clock;
    this.#ttlMs = ttlMs;
    this.#cachePhones = options.phones ?? true;
  }

  override getPortal(memberId: string): Promise<PortalRecord | undefined> {
    return this.#cached(this.#portals, memberId, () => super.getPortal(memberId), usablePortal);
  }

  override getPhone(phoneId: string): Promise<PhoneRecord | undefined> {
    if (!this.#cachePhones) return super.getPhone(phoneId);
    return this.#cached(this.#phones, phoneId, () => super.getPhone(phoneId), usablePhone);
  }

  /**
   * The line's pointer is kept as long as a portal; the phone it names is read as `getPhone` reads it and
   * must still have that line on that portal, else the pointer is read again (a reconnect moved it).
   */
  override async findPhoneByLine(memberId: string, lineId: number): Promise<PhoneRecord | undefined> {
    const key = `${memberId}:${lineId}`;
    const now = this.#clock.now().getTime();
    const held = this.#linePhones.get(key);
    const onLine = (phone: PhoneRecord | undefined) =>
      phone?.memberId === memberId && phone.line?.id === lineId;
    if (held && held.until > now) {
      const phone = await this.getPhone(held.phoneId);
      if (onLine(phone)) return phone;
      this.#linePhones.delete(key);
    }
    const phone = await super.findPhoneByLine(memberId, lineId);
    if (phone && onLine(phone))
      this.#linePhones.set(key, { until: now + this.#ttlMs, phoneId: phone.phoneId });
    return phone;
  }

  override async putPortal(portal: PortalRecord): Promise<void> {
    this.#portals.delete(portal.memberId);
    await super.putPortal(portal);
  }

  override async deletePortal(memberId: string): Promise<void> {
    this.#portals.delete(memberId);
    await super.deletePortal(memberId);
  }

  /**
   * Asked for only when a token was refused: whatever this process holds for the portal is stale, and
   * the refresher's next read must see the tokens another worker may have stored meanwhile.
   */
  override async acquireRefreshLease(
    ...args: Parameters<DynamoBitrixStore["acquireRefreshLease"]>
  ): Promise<boolean> {
    this.#portals.delete(args[0]);
    return super.acquireRefreshLease(...args);
  }

  override async saveRefreshedTokens(
    ...args: Parameters<DynamoBitrixStore["saveRefreshedTokens"]>
  ): Promise<boolean> {
    this.#portals.delete(args[0]);
    return super.saveRefreshedTokens(...args);
  }

  override async movePortalEndpoint(memberId: string, clientEndpoint: string, domain: string): Promise<void> {
    this.#portals.delete(memberId);
    await super.movePortalEndpoint(memberId, clientEndpoint, domain);
  }

  override async setPhoneConnector(
    phoneId: string,
    connector: PhoneRecord["connector"],
    updatedAt: string,
  ): Promise<void> {
    this.#phones.delete(phoneId);
    await super.setPhoneConnector(phoneId, connector, updatedAt);
  }

  override async setPhoneCalling(phoneId: string, calling: PhoneCalling): Promise<void> {
    this.#phones.delete(phoneId);
    await super.setPhoneCalling(phoneId, calling);
  }

  override async putPhone(phone: PhoneRecord, previous: PhoneRecord | undefined): Promise<void> {
    this.#phones.delete(phone.phoneId);
    await super.putPhone(phone, previous);
  }

  override async deletePhone(phone: PhoneRecord): Promise<void> {
    this.#phones.delete(phone.phoneId);
    await super.deletePhone(phone);
  }

  /** One read per key per `ttlMs`, shared by concurrent callers; a failed or unusable read is not kept. */
  #cached<T>(
    map: Map<string, { until: number; value: Promise<T> }>,
    key: string,
    read: () => Promise<T>,
    usable: (value: T) => boolean,
  ): Promise<T> {
    const now = this.#clock.now().getTime();
    const hit = map.get(key);
    if (hit && hit.until > now) return hit.value;
    const value = read();
    map.set(key, { until: now + this.#ttlMs, value });
    const forget = () => {
      if (map.get(key)?.value === value) map.delete(key);
    };
    value.then((v) => {
      if (!usable(v)) forget();
    }, forget);
    return value;
  }
}

const usablePortal = (portal: PortalRecord | undefined) => portal?.status === "installed";
const usablePhone = (phone: PhoneRecord | undefined) =>
  Boolean(phone?.line) && phone?.connector.status === "active";
