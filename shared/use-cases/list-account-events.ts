import type { AccountEventFilter, AccountEventStore } from "../ports/account-events.ts";

/** What the admin API shows of account events: the list, and the latest state on a WABA or number. */
export function makeAccountEventQueries({ accountEvents }: { accountEvents: AccountEventStore }) {
  return {
    list: (filter: AccountEventFilter, cursor?: string, limit?: number) =>
      accountEvents.listAccountEvents(filter, cursor, limit),
    stateOf: async (subject: "waba" | "phone", id: string) =>
      (await accountEvents.getAccountState(subject, id)) ?? {},
  };
}
