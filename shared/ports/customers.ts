import type { KnownCustomer } from "../domain/customer-identity.ts";

/**
 * The alias between a customer's phone and business-scoped user id, kept per scope (see
 * `aliasScopeOf`): every identifier we learned points at the customer's key for good, with its current
 * phone and BSUID. A customer's marketing preference lives beside it.
 */
export interface CustomerStore {
  /** The aliases stored under these identifiers (digits or BSUIDs) that exist. */
  getAliases(scope: string, ids: readonly string[]): Promise<Map<string, KnownCustomer>>;
  /** Points every one of `ids` at `customer` (the key's own entry holds its current phone and BSUID). */
  putAliases(scope: string, ids: readonly string[], customer: KnownCustomer): Promise<void>;
  /** Keeps only the newest preference (`at`, ISO): a redelivered older one changes nothing. */
  setMarketingPreference(scope: string, key: string, preference: MarketingPreference): Promise<void>;
  getMarketingPreference(scope: string, key: string): Promise<MarketingPreference | undefined>;
}

export interface MarketingPreference {
  readonly value: "stop" | "resume";
  readonly at: string;
  readonly detail?: string;
}
