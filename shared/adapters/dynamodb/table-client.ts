import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { parseUntrustedJson } from "../../domain/untrusted-json.ts";
import { ValidationError } from "../../errors.ts";
import type { Page } from "../../ports/store.ts";
import { table } from "../../resources.ts";
import type { SecretBox } from "../secret-box.ts";

export type TransactItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];
export type Item = Record<string, unknown>;
export type Key = { pk: string; sk: string };

/** The single table's plumbing shared by the stores: keys, conditional writes, pages, sealed fields. */
export class TableClient {
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly box: SecretBox;

  constructor(db: DynamoDBDocumentClient, tableName: string, box: SecretBox) {
    this.db = db;
    this.tableName = tableName;
    this.box = box;
  }

  async get(k: Key): Promise<Item | undefined> {
    // A key DynamoDB would refuse names nothing we stored: not found, rather than a ValidationException.
    if (!fitsKey(k.pk) || !fitsKey(k.sk)) return undefined;
    const out = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: k, ConsistentRead: true }),
    );
    return out.Item;
  }

  /** Put; with a condition, resolves false instead of throwing when the condition fails. */
  async put(
    item: Item,
    condition?: string,
    names?: Record<string, string>,
    values?: Record<string, unknown>,
  ): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (condition && isConditionFailure(error)) return false;
      throw error;
    }
  }

  async delete(k: Key): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: k }));
  }

  async queryPartition(pk: string): Promise<Item[]> {
    if (!fitsKey(pk)) return [];
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": pk },
        ConsistentRead: true,
      }),
    );
    return out.Items ?? [];
  }

  /**
   * Items of one entity type, via gsi1 (`gsi1pk = TYPE#<type>`), a page at a time, in `gsi1sk` order
   * (descending with `scanIndexForward: false`).
   */
  async listType(
    type: string,
    cursor: string | undefined,
    limit: number,
    options: { scanIndexForward?: boolean } = {},
  ): Promise<Page<Item>> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: table.gsi1.indexName,
        KeyConditionExpression: "gsi1pk = :t",
        ExpressionAttributeValues: { ":t": `TYPE#${type}` },
        ScanIndexForward: options.scanIndexForward ?? true,
        // One more than asked: DynamoDB hands a LastEvaluatedKey whenever it stops at Limit, even when
        // nothing follows, and the last page must carry no cursor.
        Limit: limit + 1,
        ExclusiveStartKey: decodeCursor(cursor, type),
      }),
    );
    const items = out.Items ?? [];
    if (items.length <= limit) return { items };
    const page = items.slice(0, limit);
    const last = page[page.length - 1] as Item;
    const key = Object.fromEntries(
      [table.partitionKey, table.sortKey, table.gsi1.partitionKey, table.gsi1.sortKey].map((k) => [
        k,
        last[k],
      ]),
    );
    return { items: page, nextCursor: encodeCursor(key) };
  }

  async allOfType(type: string): Promise<Item[]> {
    const items: Item[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listType(type, cursor, 100);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }

  putItem(item: Item, condition?: string): TransactItem {
    return { Put: { TableName: this.tableName, Item: item, ConditionExpression: condition } };
  }

  deleteItem(k: Key, condition?: string): TransactItem {
    return { Delete: { TableName: this.tableName, Key: k, ConditionExpression: condition } };
  }

  async transact(items: TransactItem[], onConditionFailure: () => Error): Promise<void> {
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
      if (reasons?.some((r) => r.Code === "ConditionalCheckFailed")) throw onConditionFailure();
      throw error;
    }
  }

  /** Seals a secret for one field of one item: the ciphertext does not open anywhere else. */
  seal(pk: string, field: string, value: string): string {
    return this.box.seal(value, `${pk}/${field}`);
  }

  open(item: Item, field: string): string {
    return this.box.open(String(item[`${field}Sealed`]), `${String(item.pk)}/${field}`);
  }
}

export function isConditionFailure(error: unknown): boolean {
  return (error as { name?: string }).name === "ConditionalCheckFailedException";
}

export function encodeCursor(lastKey: Item | undefined): string | undefined {
  return lastKey ? Buffer.from(JSON.stringify(lastKey)).toString("base64url") : undefined;
}

/**
 * A cursor is only ever one this API returned for the same list: the last key of a page, all strings,
 * with this list's index partition. Anything else would reach DynamoDB as a malformed start key.
 */
export function decodeCursor(cursor: string | undefined, type: string): Item | undefined {
  if (!cursor) return undefined;
  try {
    const parsed: unknown = parseUntrustedJson(Buffer.from(cursor, "base64url").toString("utf8"), 2);
    if (isCursorOf(parsed, type)) return { ...parsed };
  } catch {
    // fall through to the error below
  }
  throw new ValidationError("cursor is not one this API returned");
}

const CURSOR_KEYS: readonly string[] = [
  table.partitionKey,
  table.sortKey,
  table.gsi1.partitionKey,
  table.gsi1.sortKey,
];

function isCursorOf(value: unknown, type: string): value is Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return (
    entries.length === CURSOR_KEYS.length &&
    entries.every(([k, v]) => CURSOR_KEYS.includes(k) && typeof v === "string" && fitsKey(v)) &&
    (value as Record<string, string>)[table.gsi1.partitionKey] === `TYPE#${type}`
  );
}

/** DynamoDB refuses a sort key over 1024 bytes (partition keys 2048): ours are far shorter. */
const MAX_KEY_BYTES = 1024;

function fitsKey(value: string): boolean {
  return Buffer.byteLength(value, "utf8") <= MAX_KEY_BYTES;
}
