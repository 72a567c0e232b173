import { aliasScopeOf, type KnownCustomer, type SeenIdentity } from "../domain/customer-identity.ts";
import type { CustomerStore } from "../ports/customers.ts";
import type { Store } from "../ports/store.ts";

/**
 * One customer, one key: the phone↔BSUID alias learned from every webhook that carries both, so that a
 * customer seen first with a phone and later only with a BSUID (or the other way round) stays the same
 * Bitrix24 user and chat, the same 24-hour window and the same reply address.
 */
/** A WABA's portfolio is set once, at creation: its scope can be kept for a while in a warm container. */
const SCOPE_CACHE_MS = 5 * 60_000;

export function makeCustomerDirectory({ customers, store }: { customers: CustomerStore; store: Store }) {
  const scopes = new Map<string, { scope: string; until: number }>();

  async function scopeOf(wabaId: string): Promise<string> {
    const cached = scopes.get(wabaId);
    if (cached && cached.until > Date.now()) return cached.scope;
    const waba = await store.getWaba(wabaId);
    const scope = aliasScopeOf(waba ?? { wabaId });
    // An unknown WABA is not cached: it may be created any moment, with its portfolio.
    if (waba) scopes.set(wabaId, { scope, until: Date.now() + SCOPE_CACHE_MS });
    return scope;
  }

  /**
   * 1. Look up the aliases of the BSUID and the phone the webhook names (one read).
   * 2. The customer's key is the one an alias already names (the BSUID's first: it is the identity Meta
   *    keeps when it hides the phone), else the phone, else the BSUID.
   * 3. Write only what is new: a BSUID, phone or username not yet pointing at that key. A customer we only
   *    ever saw by phone needs no alias at all.
   */
  async function resolve(scope: string, seen: SeenIdentity): Promise<KnownCustomer | undefined> {
    const ids = [seen.userId, seen.phone].filter((id): id is string => id !== undefined);
    if (ids.length === 0) return undefined;
    const found = await customers.getAliases(scope, ids);
    const byUser = seen.userId ? found.get(seen.userId) : undefined;
    const byPhone = seen.phone ? found.get(seen.phone) : undefined;
    const key = byUser?.key ?? byPhone?.key ?? seen.phone ?? (seen.userId as string);
    const head =
      found.get(key) ?? (ids.includes(key) ? undefined : (await customers.getAliases(scope, [key])).get(key));
    const known = head ?? byUser ?? byPhone;
    const current: KnownCustomer = compact({
      key,
      phone: seen.phone ?? known?.phone,
      userId: seen.userId ?? known?.userId,
      username: seen.username ?? known?.username,
      contactName: known?.contactName,
    });
    if (!current.userId) return current;
    const stale = [...new Set([key, ...ids])].filter(
      (id) => !same(id === key ? head : found.get(id), current),
    );
    if (stale.length > 0) await customers.putAliases(scope, stale, current);
    return current;
  }

  /**
   * A customer changed number or BSUID (`system` user_changed_number / user_changed_user_id): the key
   * stays, the new identifier joins it, and replies go to the new one.
   */
  async function move(
    scope: string,
    customer: KnownCustomer,
    change: { phone?: string; userId?: string },
  ): Promise<KnownCustomer> {
    const moved: KnownCustomer = compact({ ...customer, ...change });
    const ids = [customer.key, customer.phone, customer.userId, change.phone, change.userId].filter(
      (id): id is string => id !== undefined,
    );
    await customers.putAliases(scope, ids, moved);
    return moved;
  }

  /** The business's own name for the customer (`undefined`: removed from its contact book). */
  async function rename(scope: string, customer: KnownCustomer, contactName: string | undefined) {
    const { contactName: _old, ...rest } = customer;
    const renamed: KnownCustomer = contactName ? { ...rest, contactName } : rest;
    const ids = [customer.key, customer.phone, customer.userId].filter(
      (id): id is string => id !== undefined,
    );
    await customers.putAliases(scope, ids, renamed);
    return renamed;
  }

  /** What we know of the customer behind a key (its current phone and BSUID), for replies. */
  async function known(scope: string, key: string): Promise<KnownCustomer> {
    return (await customers.getAliases(scope, [key])).get(key) ?? { key };
  }

  return { scopeOf, resolve, move, rename, known };
}

export type CustomerDirectory = ReturnType<typeof makeCustomerDirectory>;

function same(a: KnownCustomer | undefined, b: KnownCustomer): boolean {
  return (
    a !== undefined &&
    a.key === b.key &&
    a.phone === b.phone &&
    a.userId === b.userId &&
    a.username === b.username &&
    a.contactName === b.contactName
  );
}

function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
