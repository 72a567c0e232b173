import type { KnownCustomer } from "../../domain/customer-identity.ts";
import type { Clock } from "../../ports/clock.ts";
import type { CustomerStore, MarketingPreference } from "../../ports/customers.ts";

/**
 * How long the inbound worker trusts what it read of a customer's aliases (found or absent). Aliases are
 * added, and keys stay (a number change joins the new identifier to the same key), so what a warm
 * worker holds is rarely wrong — and then only for this long: an alias another worker added meanwhile
 * (a phone first joined to a BSUID there) or a contact name it changed shows here within it. Long enough
 * to span a chatty customer's messages; the outbound worker does not use it (replies go to the number
 * stored now).
 */
export const ALIAS_CACHE_MS = 60_000;
const MAX_CACHED_ALIASES = 20_000;

/** The customer store as a warm inbound worker reads it: each identifier's alias once per `ttlMs`. */
export class CachedCustomerStore implements CustomerStore {
  readonly #inner: CustomerStore;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  /** `scope#id` → the alias (null: none stored) and until when it is trusted. */
  readonly #aliases = new Map<string, { until: number; value: KnownCustomer | null }>();

  constructor(inner: CustomerStore, clock: Clock, ttlMs: number) {
    this.#inner = inner;
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  /** Only the identifiers not held (or held too long) are read; what is found or absent is kept. */
  async getAliases(scope: string, ids: readonly string[]): Promise<Map<string, KnownCustomer>> {
    const now = this.#clock.now().getTime();
    const found = new Map<string, KnownCustomer>();
    const missing: string[] = [];
    for (const id of new Set(ids)) {
      const held = this.#aliases.get(`${scope}#${id}`);
      if (!held || held.until <= now) missing.push(id);
      else if (held.value) found.set(id, held.value);
    }
    if (missing.length === 0) return found;
    const read = await this.#inner.getAliases(scope, missing);
    for (const id of missing) {
      const value = read.get(id);
      this.#keep(scope, id, value ?? null, now);
      if (value) found.set(id, value);
    }
    return found;
  }

  async putAliases(scope: string, ids: readonly string[], customer: KnownCustomer): Promise<void> {
    try {
      await this.#inner.putAliases(scope, ids, customer);
    } catch (error) {
      // Some may be written, some not: read them again next time.
      for (const id of ids) this.#aliases.delete(`${scope}#${id}`);
      throw error;
    }
    const now = this.#clock.now().getTime();
    for (const id of ids) this.#keep(scope, id, customer, now);
  }

  setMarketingPreference(scope: string, key: string, preference: MarketingPreference): Promise<void> {
    return this.#inner.setMarketingPreference(scope, key, preference);
  }

  getMarketingPreference(scope: string, key: string): Promise<MarketingPreference | undefined> {
    return this.#inner.getMarketingPreference(scope, key);
  }

  #keep(scope: string, id: string, value: KnownCustomer | null, now: number): void {
    if (this.#aliases.size >= MAX_CACHED_ALIASES) this.#aliases.clear();
    this.#aliases.set(`${scope}#${id}`, { until: now + this.#ttlMs, value });
  }
}
