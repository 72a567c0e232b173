import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import type { InboundEvent } from "../../domain/inbound-event.ts";
import { ConflictError, NotFoundError, ValidationError } from "../../errors.ts";
import type { AppRecord, Page, Store, WabaRecord } from "../../ports/store.ts";
import { table } from "../../resources.ts";
import type { SecretBox } from "../secret-box.ts";

type TransactItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];
type Item = Record<string, unknown>;

const EVENT_RETENTION_DAYS = 30;

const key = {
  app: (appId: string) => ({ pk: `APP#${appId}`, sk: "APP" }),
  appDomain: (host: string, appId: string) => ({ pk: `DOMAIN#${host}`, sk: `APP#${appId}` }),
  verifyToken: (token: string) => ({ pk: `VERIFY#${token}`, sk: "VERIFY" }),
  waba: (wabaId: string) => ({ pk: `WABA#${wabaId}`, sk: "WABA" }),
  event: (eventId: string) => ({ pk: `EVT#${eventId}`, sk: "EVT" }),
};

export function makeDocumentClient(client = new DynamoDBClient({})): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** All state in one DynamoDB table; secrets are sealed with the SecretBox before they are written. */
export class DynamoStore implements Store {
  readonly #db: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #box: SecretBox;

  constructor(db: DynamoDBDocumentClient, tableName: string, box: SecretBox) {
    this.#db = db;
    this.#tableName = tableName;
    this.#box = box;
  }

  async ping(): Promise<void> {
    await this.#db.send(new GetCommand({ TableName: this.#tableName, Key: { pk: "HEALTH", sk: "HEALTH" } }));
  }

  // ---- apps ----

  async createApp(app: AppRecord): Promise<void> {
    await this.#transact(
      [
        this.#put(this.#appItem(app), "attribute_not_exists(pk)"),
        this.#put({ ...key.verifyToken(app.verifyToken), appId: app.appId }, "attribute_not_exists(pk)"),
        ...app.domains.map((host) => this.#put({ ...key.appDomain(host, app.appId), appId: app.appId })),
      ],
      () => new ConflictError(`App ${app.appId} already exists`),
    );
  }

  async getApp(appId: string): Promise<AppRecord | undefined> {
    const item = await this.#get(key.app(appId));
    return item && this.#toApp(item);
  }

  async listApps(cursor?: string, limit = 50): Promise<Page<AppRecord>> {
    const page = await this.#listType("app", cursor, limit);
    return { items: page.items.map((item) => this.#toApp(item)), nextCursor: page.nextCursor };
  }

  async updateApp(app: AppRecord, previous: AppRecord): Promise<void> {
    const removed = previous.domains.filter((d) => !app.domains.includes(d));
    const added = app.domains.filter((d) => !previous.domains.includes(d));
    await this.#transact(
      [
        this.#put(this.#appItem(app), "attribute_exists(pk)"),
        ...removed.map((host) => this.#delete(key.appDomain(host, app.appId))),
        ...added.map((host) => this.#put({ ...key.appDomain(host, app.appId), appId: app.appId })),
      ],
      () => new NotFoundError(`App ${app.appId} not found`),
    );
  }

  async deleteApp(app: AppRecord): Promise<void> {
    await this.#transact(
      [
        this.#delete(key.app(app.appId), "attribute_exists(pk)"),
        this.#delete(key.verifyToken(app.verifyToken)),
        ...app.domains.map((host) => this.#delete(key.appDomain(host, app.appId))),
      ],
      () => new NotFoundError(`App ${app.appId} not found`),
    );
  }

  async findAppsByDomain(host: string): Promise<AppRecord[]> {
    const out = await this.#db.send(
      new QueryCommand({
        TableName: this.#tableName,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": `DOMAIN#${host}` },
      }),
    );
    const appIds = (out.Items ?? []).map((i) => String(i.appId));
    if (appIds.length === 0) return [];
    const got = await this.#db.send(
      new BatchGetCommand({ RequestItems: { [this.#tableName]: { Keys: appIds.map((id) => key.app(id)) } } }),
    );
    return (got.Responses?.[this.#tableName] ?? []).map((item) => this.#toApp(item));
  }

  async findAppByVerifyToken(verifyToken: string): Promise<AppRecord | undefined> {
    const pointer = await this.#get(key.verifyToken(verifyToken));
    return pointer ? this.getApp(String(pointer.appId)) : undefined;
  }

  // ---- WABAs ----

  async createWaba(waba: WabaRecord): Promise<void> {
    try {
      await this.#db.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: this.#wabaItem(waba),
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) throw new ConflictError(`WABA ${waba.wabaId} already exists`);
      throw error;
    }
  }

  async getWaba(wabaId: string): Promise<WabaRecord | undefined> {
    const item = await this.#get(key.waba(wabaId));
    return item && this.#toWaba(item);
  }

  async listWabas(cursor?: string, limit = 50): Promise<Page<WabaRecord>> {
    const page = await this.#listType("waba", cursor, limit);
    return { items: page.items.map((item) => this.#toWaba(item)), nextCursor: page.nextCursor };
  }

  async countWabasOfApp(appId: string): Promise<number> {
    let count = 0;
    let cursor: string | undefined;
    do {
      const page = await this.listWabas(cursor, 100);
      count += page.items.filter((w) => w.appId === appId).length;
      cursor = page.nextCursor;
    } while (cursor);
    return count;
  }

  async putWaba(waba: WabaRecord): Promise<void> {
    await this.#db.send(new PutCommand({ TableName: this.#tableName, Item: this.#wabaItem(waba) }));
  }

  async deleteWaba(wabaId: string): Promise<void> {
    await this.#db.send(new DeleteCommand({ TableName: this.#tableName, Key: key.waba(wabaId) }));
  }

  // ---- inbound events ----

  async recordInboundEvent(event: InboundEvent, receivedAt: Date): Promise<"stored" | "duplicate"> {
    try {
      await this.#db.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: {
            ...key.event(event.id),
            event,
            receivedAt: receivedAt.toISOString(),
            [table.ttlAttribute]: Math.floor(receivedAt.getTime() / 1000) + EVENT_RETENTION_DAYS * 86_400,
          },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
      return "stored";
    } catch (error) {
      if (isConditionFailure(error)) return "duplicate";
      throw error;
    }
  }

  async getInboundEvent(eventId: string): Promise<(InboundEvent & { receivedAt: string }) | undefined> {
    const item = await this.#get(key.event(eventId));
    return item && { ...(item.event as InboundEvent), receivedAt: String(item.receivedAt) };
  }

  // ---- plumbing ----

  #appItem(app: AppRecord): Item {
    const k = key.app(app.appId);
    const { appSecret, ...rest } = app;
    return {
      ...k,
      gsi1pk: "TYPE#app",
      gsi1sk: app.appId,
      ...rest,
      appSecretSealed: this.#box.seal(appSecret, `${k.pk}/appSecret`),
    };
  }

  #toApp(item: Item): AppRecord {
    return {
      appId: String(item.appId),
      name: String(item.name),
      appSecret: this.#box.open(String(item.appSecretSealed), `${item.pk}/appSecret`),
      domains: (item.domains as string[] | undefined) ?? [],
      graphApiVersion: String(item.graphApiVersion),
      verifyToken: String(item.verifyToken),
      createdAt: String(item.createdAt),
      updatedAt: String(item.updatedAt),
    };
  }

  #wabaItem(waba: WabaRecord): Item {
    const k = key.waba(waba.wabaId);
    const { accessToken, ...rest } = waba;
    return {
      ...k,
      gsi1pk: "TYPE#waba",
      gsi1sk: waba.wabaId,
      ...rest,
      accessTokenSealed: this.#box.seal(accessToken, `${k.pk}/accessToken`),
    };
  }

  #toWaba(item: Item): WabaRecord {
    return {
      wabaId: String(item.wabaId),
      name: String(item.name),
      appId: String(item.appId),
      accessToken: this.#box.open(String(item.accessTokenSealed), `${item.pk}/accessToken`),
      subscribed: item.subscribed === true,
      subscribeError: (item.subscribeError as WabaRecord["subscribeError"]) ?? null,
      tokenStatus: (item.tokenStatus as WabaRecord["tokenStatus"]) ?? "unknown",
      createdAt: String(item.createdAt),
      updatedAt: String(item.updatedAt),
    };
  }

  async #get(k: { pk: string; sk: string }): Promise<Item | undefined> {
    const out = await this.#db.send(
      new GetCommand({ TableName: this.#tableName, Key: k, ConsistentRead: true }),
    );
    return out.Item;
  }

  async #listType(type: string, cursor: string | undefined, limit: number): Promise<Page<Item>> {
    const out = await this.#db.send(
      new QueryCommand({
        TableName: this.#tableName,
        IndexName: table.gsi1.indexName,
        KeyConditionExpression: "gsi1pk = :t",
        ExpressionAttributeValues: { ":t": `TYPE#${type}` },
        Limit: limit,
        ExclusiveStartKey: decodeCursor(cursor),
      }),
    );
    return { items: out.Items ?? [], nextCursor: encodeCursor(out.LastEvaluatedKey) };
  }

  #put(item: Item, condition?: string): TransactItem {
    return { Put: { TableName: this.#tableName, Item: item, ConditionExpression: condition } };
  }

  #delete(k: { pk: string; sk: string }, condition?: string): TransactItem {
    return { Delete: { TableName: this.#tableName, Key: k, ConditionExpression: condition } };
  }

  async #transact(items: TransactItem[], onConditionFailure: () => Error): Promise<void> {
    try {
      await this.#db.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
      if (reasons?.some((r) => r.Code === "ConditionalCheckFailed")) throw onConditionFailure();
      throw error;
    }
  }
}

function isConditionFailure(error: unknown): boolean {
  return (error as { name?: string }).name === "ConditionalCheckFailedException";
}

function encodeCursor(lastKey: Item | undefined): string | undefined {
  return lastKey ? Buffer.from(JSON.stringify(lastKey)).toString("base64url") : undefined;
}

function decodeCursor(cursor: string | undefined): Item | undefined {
  if (!cursor) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as Item;
  } catch {
    // fall through to the error below
  }
  throw new ValidationError("cursor is not one this API returned");
}
