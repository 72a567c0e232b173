import type { AccountEvent, AccountState } from "../domain/account-events.ts";
import type { Page } from "./store.ts";

export interface AccountEventFilter {
  readonly wabaId?: string;
  readonly phoneId?: string;
  readonly type?: string;
}

/** Account, quality, template and marketing-preference events Meta sent, and the latest state they set. */
export interface AccountEventStore {
  /** Stores the event once (keyed on its id); false when it was stored before. */
  recordAccountEvent(event: AccountEvent): Promise<boolean>;
  /** Newest first. */
  listAccountEvents(filter: AccountEventFilter, cursor?: string, limit?: number): Promise<Page<AccountEvent>>;
  /** Merges `patch` into the latest state of a WABA or phone, unless a newer event set it already. */
  updateAccountState(subject: "waba" | "phone", id: string, patch: AccountState, at: string): Promise<void>;
  getAccountState(subject: "waba" | "phone", id: string): Promise<AccountState | undefined>;
}
