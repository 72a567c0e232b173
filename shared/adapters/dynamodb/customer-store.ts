import { BatchGetCommand, BatchWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { KnownCustomer } from "../../domain/customer-identity.ts";
import type { CustomerStore, MarketingPreference } from "../../ports/customers.ts";
import { table } from "../../resources.ts";
import { isConditionFailure, type TableClient } from "./table-client.ts";

/** As long as a conversation: an alias nobody used for that long has nothing left to join. */
const RETAIN_S = 400 * 86_400;

const key = {
  alias: (scope: string, id: string) => ({ pk: `ALIAS#${scope}#${id}`, sk: "ALIAS" }),
  preference: (scope: string, customerKey: string) => ({
    pk: `MKTPREF#${scope}#${customerKey}`,
    sk: "MKTPREF",
  }),
};

const ttl = () => ({ [table.ttlAttribute]: Math.floor(Date.now() / 1000) + RETAIN_S });

/** Items `ALIAS#<scope>#<phone|BSUID>` → the customer's key and current identifiers; `MKTPREF#…`. */
export class DynamoCustomerStore implements CustomerStore {
  readonly #t: TableClient;

  constructor(tableClient: TableClient) {
    this.#t = tableClient;
  }

  async getAliases(scope: string, ids: readonly string[]): Promise<Map<string, KnownCustomer>> {
    const found = new Map<string, KnownCustomer>();
    const unique = [...new Set(ids)];
    if (unique.length === 0) return found;
    let keys: Record<string, unknown>[] | undefined = unique.map((id) => key.alias(scope, id));
    // Unprocessed keys (throttling) are asked for again: a missed alias would split the customer.
    for (let round = 0; keys && keys.length > 0 && round < 5; round++) {
      const out = await this.#t.db.send(
        new BatchGetCommand({
          RequestItems: { [this.#t.tableName]: { Keys: keys, ConsistentRead: true } },
        }),
      );
      for (const item of out.Responses?.[this.#t.tableName] ?? []) {
        const id = String(item.pk).slice(`ALIAS#${scope}#`.length);
        found.set(id, customerOf(item));
      }
      keys = out.UnprocessedKeys?.[this.#t.tableName]?.Keys as Record<string, unknown>[] | undefined;
    }
    return found;
  }

  async putAliases(scope: string, ids: readonly string[], customer: KnownCustomer): Promise<void> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return;
    let requests: Record<string, unknown>[] | undefined = unique.map((id) => ({
      PutRequest: { Item: { ...key.alias(scope, id), ...definedOnly(customer), ...ttl() } },
    }));
    for (let round = 0; requests && requests.length > 0 && round < 5; round++) {
      const out = await this.#t.db.send(
        new BatchWriteCommand({ RequestItems: { [this.#t.tableName]: requests as never } }),
      );
      requests = out.UnprocessedItems?.[this.#t.tableName] as Record<string, unknown>[] | undefined;
    }
    if (requests && requests.length > 0) throw new Error("DynamoDB left customer aliases unwritten");
  }

  async setMarketingPreference(scope: string, customerKey: string, preference: MarketingPreference) {
    try {
      await this.#t.db.send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: key.preference(scope, customerKey),
          UpdateExpression: "SET #value = :value, #at = :at, detail = :detail, #ttl = :ttl",
          ConditionExpression: "attribute_not_exists(#at) OR #at < :at",
          ExpressionAttributeNames: { "#value": "value", "#at": "at", "#ttl": table.ttlAttribute },
          ExpressionAttributeValues: {
            ":value": preference.value,
            ":at": preference.at,
            ":detail": preference.detail ?? null,
            ":ttl": ttl()[table.ttlAttribute],
          },
        }),
      );
    } catch (error) {
      // A newer preference is stored: the older one redelivered changes nothing.
      if (!isConditionFailure(error)) throw error;
    }
  }

  async getMarketingPreference(scope: string, customerKey: string): Promise<MarketingPreference | undefined> {
    const item = await this.#t.get(key.preference(scope, customerKey));
    if (!item || (item.value !== "stop" && item.value !== "resume")) return undefined;
    return {
      value: item.value,
      at: String(item.at),
      ...(typeof item.detail === "string" ? { detail: item.detail } : {}),
    };
  }
}

function customerOf(item: Record<string, unknown>): KnownCustomer {
  const s = (v: unknown) => (typeof v === "string" && v ? v : undefined);
  return definedOnly({
    key: String(item.key),
    phone: s(item.phone),
    userId: s(item.userId),
    username: s(item.username),
    contactName: s(item.contactName),
  }) as KnownCustomer;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
