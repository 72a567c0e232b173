import { QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { AccountEvent, AccountState } from "../../domain/account-events.ts";
import type { AccountEventFilter, AccountEventStore } from "../../ports/account-events.ts";
import type { Page } from "../../ports/store.ts";
import { table } from "../../resources.ts";
import { decodeCursor, encodeCursor, isConditionFailure, type TableClient } from "./table-client.ts";

const TYPE = "ACCOUNTEVENT";
const RETAIN_S = 400 * 86_400;
/** How many items one page reads at most while a filter skips others (keeps a request bounded). */
const MAX_SCANNED = 500;

const key = {
  event: (id: string) => ({ pk: `ACCOUNTEVENT#${id}`, sk: "ACCOUNTEVENT" }),
  state: (subject: string, id: string) => ({ pk: `ACCOUNTSTATE#${subject}#${id}`, sk: "ACCOUNTSTATE" }),
};

/** Events in `gsi1` under `TYPE#ACCOUNTEVENT`, sorted by time; latest state per WABA / number. */
export class DynamoAccountEventStore implements AccountEventStore {
  readonly #t: TableClient;

  constructor(tableClient: TableClient) {
    this.#t = tableClient;
  }

  async recordAccountEvent(event: AccountEvent): Promise<boolean> {
    return this.#t.put(
      {
        ...key.event(event.id),
        [table.gsi1.partitionKey]: `TYPE#${TYPE}`,
        [table.gsi1.sortKey]: `${event.at}#${event.id}`,
        event,
        wabaId: event.wabaId,
        phoneId: event.phoneId ?? null,
        eventType: event.type,
        [table.ttlAttribute]: Math.floor(Date.now() / 1000) + RETAIN_S,
      },
      "attribute_not_exists(pk)",
    );
  }

  async listAccountEvents(
    filter: AccountEventFilter,
    cursor?: string,
    limit = 50,
  ): Promise<Page<AccountEvent>> {
    const conditions: string[] = [];
    const values: Record<string, unknown> = { ":t": `TYPE#${TYPE}` };
    if (filter.wabaId) {
      conditions.push("wabaId = :waba");
      values[":waba"] = filter.wabaId;
    }
    if (filter.phoneId) {
      conditions.push("phoneId = :phone");
      values[":phone"] = filter.phoneId;
    }
    if (filter.type) {
      conditions.push("eventType = :type");
      values[":type"] = filter.type;
    }
    const items: AccountEvent[] = [];
    let start = decodeCursor(cursor, TYPE);
    let scanned = 0;
    // A filter applies after DynamoDB's Limit, so pages are read until enough match or the bound is hit.
    do {
      const out = await this.#t.db.send(
        new QueryCommand({
          TableName: this.#t.tableName,
          IndexName: table.gsi1.indexName,
          KeyConditionExpression: "gsi1pk = :t",
          FilterExpression: conditions.length ? conditions.join(" AND ") : undefined,
          ExpressionAttributeValues: values,
          ScanIndexForward: false,
          Limit: limit - items.length,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) items.push(item.event as AccountEvent);
      scanned += out.ScannedCount ?? 0;
      start = out.LastEvaluatedKey;
    } while (start && items.length < limit && scanned < MAX_SCANNED);
    return { items, ...(start ? { nextCursor: encodeCursor(start) } : {}) };
  }

  async updateAccountState(subject: "waba" | "phone", id: string, patch: AccountState, at: string) {
    for (const [field, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      try {
        await this.#t.db.send(
          new UpdateCommand({
            TableName: this.#t.tableName,
            Key: key.state(subject, id),
            UpdateExpression: "SET #f = :v",
            // Each part keeps its newest event: a redelivered older one does not roll it back.
            ConditionExpression: "attribute_not_exists(#f) OR #f.#at <= :at",
            ExpressionAttributeNames: { "#f": field, "#at": "at" },
            ExpressionAttributeValues: { ":v": value, ":at": at },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
  }

  async getAccountState(subject: "waba" | "phone", id: string): Promise<AccountState | undefined> {
    const item = await this.#t.get(key.state(subject, id));
    if (!item) return undefined;
    const { pk: _pk, sk: _sk, ...state } = item;
    return state as AccountState;
  }
}
