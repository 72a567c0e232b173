import { DeleteCommand, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { holdEntry } from "../../domain/conversation-hold.ts";
import type { DeadLetter, DeadLetterStore } from "../../ports/dead-letters.ts";
import type { Page } from "../../ports/store.ts";
import {
  type Item,
  isConditionFailure,
  type Key,
  type TableClient,
  type TransactItem,
} from "./table-client.ts";

const TYPE = "dead";

const key = (id: string) => ({ pk: `DEAD#${id}`, sk: "DEAD" });
/** One message group's hold: the set of its outstanding letters (`entries`). */
const holdKey = (queue: string, group: string) => ({ pk: `HOLD#${queue}#${group}`, sk: "HOLD" });
/** One item per queue listing its held groups (`groups`): what a worker reads, cached, to skip the rest. */
const heldListKey = (queue: string) => ({ pk: `HOLDS#${queue}`, sk: "HOLDS" });

/**
 * Writers of one queue's held-groups item contend for it during an outage (every give-up adds to it):
 * DynamoDB cancels a transaction that meets another on the same item (`TransactionConflict`), and it
 * is tried again after a short random pause.
 */
const CONFLICT_RETRIES = 8;

/**
 * Dead letters, one item each, listed newest first through gsi1 (`gsi1sk = <failedAt>#<id>`). No TTL:
 * a dead letter stays until an admin redrives or deletes it. Recording the same id again replaces the
 * item, so a dead-letter-queue message recorded twice (its delete failed) is still one dead letter.
 * Holds (shared/domain/conversation-hold.ts) live beside them: a letter and its hold entry are written
 * and deleted together.
 */
export class DynamoDeadLetterStore implements DeadLetterStore {
  readonly #t: TableClient;

  constructor(tableClient: TableClient) {
    this.#t = tableClient;
  }

  #letterItem(letter: DeadLetter): Item {
    return {
      ...key(letter.id),
      gsi1pk: `TYPE#${TYPE}`,
      gsi1sk: `${letter.failedAt}#${letter.id}`,
      ...letter,
    };
  }

  /** Adds a string to, or takes it from, a string-set attribute (DynamoDB drops a set left empty). */
  #setUpdate(k: Key, action: "ADD" | "DELETE", attribute: string, value: string): TransactItem {
    return {
      Update: {
        TableName: this.#t.tableName,
        Key: k,
        UpdateExpression: `${action} #a :v`,
        ExpressionAttributeNames: { "#a": attribute },
        ExpressionAttributeValues: { ":v": new Set([value]) },
      },
    };
  }

  async #transact(items: TransactItem[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#t.db.send(new TransactWriteCommand({ TransactItems: items }));
        return;
      } catch (error) {
        const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
        if (attempt >= CONFLICT_RETRIES || !reasons?.some((r) => r.Code === "TransactionConflict"))
          throw error;
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 40 * attempt));
      }
    }
  }

  async record(letter: DeadLetter): Promise<void> {
    await this.#t.put(this.#letterItem(letter), "attribute_not_exists(pk)");
  }

  async hold(letter: DeadLetter & { messageGroupId: string; orderKey: string }): Promise<void> {
    await this.#transact([
      this.#t.putItem(this.#letterItem(letter)),
      this.#setUpdate(
        holdKey(letter.queue, letter.messageGroupId),
        "ADD",
        "entries",
        holdEntry(letter.orderKey, letter.id),
      ),
      this.#setUpdate(heldListKey(letter.queue), "ADD", "groups", letter.messageGroupId),
    ]);
  }

  async list(cursor?: string, limit = 50): Promise<Page<DeadLetter>> {
    const page = await this.#t.listType(TYPE, cursor, limit, { scanIndexForward: false });
    return { items: page.items.map(toDeadLetter), nextCursor: page.nextCursor };
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const item = await this.#t.get(key(id));
    return item && toDeadLetter(item);
  }

  async markRedriving(id: string): Promise<boolean> {
    try {
      await this.#t.db.send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: key(id),
          UpdateExpression: "SET redriving = :t",
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeValues: { ":t": true },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.#t.db.send(
        new DeleteCommand({
          TableName: this.#t.tableName,
          Key: key(id),
          ConditionExpression: "redriving = :t",
          ExpressionAttributeValues: { ":t": true },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async discard(letter: DeadLetter): Promise<void> {
    if (letter.messageGroupId === undefined || letter.orderKey === undefined) {
      await this.#t.delete(key(letter.id));
      return;
    }
    const entry = holdEntry(letter.orderKey, letter.id);
    await this.#transact([
      this.#t.deleteItem(key(letter.id)),
      this.#setUpdate(holdKey(letter.queue, letter.messageGroupId), "DELETE", "entries", entry),
    ]);
    await this.#unlistIfEmpty(letter.queue, letter.messageGroupId);
  }

  async heldGroups(queue: string): Promise<Set<string>> {
    const item = await this.#t.get(heldListKey(queue));
    return new Set((item?.groups as Set<string> | undefined) ?? []);
  }

  async holdOf(queue: string, group: string): Promise<Set<string>> {
    const item = await this.#t.get(holdKey(queue, group));
    return new Set((item?.entries as Set<string> | undefined) ?? []);
  }

  async release(queue: string, group: string, entry: string): Promise<void> {
    const out = await this.#t.db.send(
      new UpdateCommand({
        TableName: this.#t.tableName,
        Key: holdKey(queue, group),
        UpdateExpression: "DELETE entries :v",
        ExpressionAttributeValues: { ":v": new Set([entry]) },
        ReturnValues: "ALL_NEW",
      }),
    );
    if (((out.Attributes?.entries as Set<string> | undefined)?.size ?? 0) === 0) {
      await this.#unlistIfEmpty(queue, group);
    }
  }

  /**
   * The group leaves its queue's list only while its hold is empty: in one transaction with deleting the
   * empty hold, so a letter recorded meanwhile (which lists the group again) is never unlisted.
   */
  async #unlistIfEmpty(queue: string, group: string): Promise<void> {
    try {
      await this.#transact([
        {
          Delete: {
            TableName: this.#t.tableName,
            Key: holdKey(queue, group),
            ConditionExpression: "attribute_not_exists(entries)",
          },
        },
        this.#setUpdate(heldListKey(queue), "DELETE", "groups", group),
      ]);
    } catch (error) {
      const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
      if (!reasons?.some((r) => r.Code === "ConditionalCheckFailed")) throw error;
    }
  }
}

function toDeadLetter(item: Item): DeadLetter {
  return {
    id: String(item.id),
    queue: String(item.queue),
    body: String(item.body),
    ...(item.messageGroupId === undefined ? {} : { messageGroupId: String(item.messageGroupId) }),
    reason: String(item.reason),
    attempts: Number(item.attempts),
    failedAt: String(item.failedAt),
    source: item.source === "dlq" ? "dlq" : "worker",
    ...(item.orderKey === undefined ? {} : { orderKey: String(item.orderKey) }),
    ...(item.waitingBehind === undefined ? {} : { waitingBehind: String(item.waitingBehind) }),
    ...(item.redriving === true ? { redriving: true as const } : {}),
  };
}
