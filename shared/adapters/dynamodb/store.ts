import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { InboundEvent } from "../../domain/inbound-event.ts";
import { ConflictError, NotFoundError } from "../../errors.ts";
import type { AppRecord, Page, Store, WabaRecord } from "../../ports/store.ts";
import { table } from "../../resources.ts";
import { type Item, isConditionFailure, type TableClient } from "./table-client.ts";

const EVENT_RETENTION_DAYS = 30;

/** Room under DynamoDB's 400 KB item limit for the key, dates and attribute names. */
const MAX_RECORDED_EVENT_BYTES = 300 * 1024;

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

/** Meta apps, WABAs and received events; secrets sealed before they are written. */
export class DynamoStore implements Store {
  readonly #t: TableClient;

  constructor(tableClient: TableClient) {
    this.#t = tableClient;
  }

  async ping(): Promise<void> {
    await this.#t.get({ pk: "HEALTH", sk: "HEALTH" });
  }

  // ---- apps ----

  async createApp(app: AppRecord): Promise<void> {
    await this.#t.transact(
      [
        this.#t.putItem(this.#appItem(app), "attribute_not_exists(pk)"),
        this.#t.putItem(
          { ...key.verifyToken(app.verifyToken), appId: app.appId },
          "attribute_not_exists(pk)",
        ),
        ...app.domains.map((host) =>
          this.#t.putItem({ ...key.appDomain(host, app.appId), appId: app.appId }),
        ),
      ],
      () => new ConflictError(`App ${app.appId} already exists`),
    );
  }

  async getApp(appId: string): Promise<AppRecord | undefined> {
    const item = await this.#t.get(key.app(appId));
    return item && this.#toApp(item);
  }

  async listApps(cursor?: string, limit = 50): Promise<Page<AppRecord>> {
    const page = await this.#t.listType("app", cursor, limit);
    return { items: page.items.map((item) => this.#toApp(item)), nextCursor: page.nextCursor };
  }

  async updateApp(app: AppRecord, previous: AppRecord): Promise<void> {
    const removed = previous.domains.filter((d) => !app.domains.includes(d));
    const added = app.domains.filter((d) => !previous.domains.includes(d));
    await this.#t.transact(
      [
        this.#t.putItem(this.#appItem(app), "attribute_exists(pk)"),
        ...removed.map((host) => this.#t.deleteItem(key.appDomain(host, app.appId))),
        ...added.map((host) => this.#t.putItem({ ...key.appDomain(host, app.appId), appId: app.appId })),
      ],
      () => new NotFoundError(`App ${app.appId} not found`),
    );
  }

  async deleteApp(app: AppRecord): Promise<void> {
    await this.#t.transact(
      [
        this.#t.deleteItem(key.app(app.appId), "attribute_exists(pk)"),
        this.#t.deleteItem(key.verifyToken(app.verifyToken)),
        ...app.domains.map((host) => this.#t.deleteItem(key.appDomain(host, app.appId))),
      ],
      () => new NotFoundError(`App ${app.appId} not found`),
    );
  }

  async findAppsByDomain(host: string): Promise<AppRecord[]> {
    const pointers = await this.#t.queryPartition(`DOMAIN#${host}`);
    const apps = await Promise.all(pointers.map((p) => this.getApp(String(p.appId))));
    return apps.filter((a): a is AppRecord => a !== undefined);
  }

  async findAppByVerifyToken(verifyToken: string): Promise<AppRecord | undefined> {
    const pointer = await this.#t.get(key.verifyToken(verifyToken));
    return pointer ? this.getApp(String(pointer.appId)) : undefined;
  }

  // ---- WABAs ----

  async createWaba(waba: WabaRecord): Promise<void> {
    if (!(await this.#t.put(this.#wabaItem(waba), "attribute_not_exists(pk)"))) {
      throw new ConflictError(`WABA ${waba.wabaId} already exists`);
    }
  }

  async getWaba(wabaId: string): Promise<WabaRecord | undefined> {
    const item = await this.#t.get(key.waba(wabaId));
    return item && this.#toWaba(item);
  }

  async listWabas(cursor?: string, limit = 50): Promise<Page<WabaRecord>> {
    const page = await this.#t.listType("waba", cursor, limit);
    return { items: page.items.map((item) => this.#toWaba(item)), nextCursor: page.nextCursor };
  }

  async countWabasOfApp(appId: string): Promise<number> {
    return (await this.#t.allOfType("waba")).filter((w) => w.appId === appId).length;
  }

  async putWaba(waba: WabaRecord): Promise<void> {
    await this.#t.put(this.#wabaItem(waba));
  }

  async flagWabaToken(
    wabaId: string,
    expectedUpdatedAt: string,
    flags: Pick<WabaRecord, "tokenStatus" | "subscribeError" | "updatedAt">,
  ): Promise<boolean> {
    try {
      await this.#t.db.send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: key.waba(wabaId),
          UpdateExpression: "SET tokenStatus = :s, subscribeError = :e, updatedAt = :now",
          ConditionExpression: "updatedAt = :expected",
          ExpressionAttributeValues: {
            ":s": flags.tokenStatus,
            ":e": flags.subscribeError,
            ":now": flags.updatedAt,
            ":expected": expectedUpdatedAt,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async deleteWaba(wabaId: string): Promise<void> {
    await this.#t.delete(key.waba(wabaId));
  }

  // ---- inbound events ----

  async recordInboundEvent(event: InboundEvent, receivedAt: Date): Promise<"stored" | "duplicate"> {
    // DynamoDB refuses items over 400 KB: an event that large is recorded by what identifies it.
    const bytes = Buffer.byteLength(JSON.stringify(event), "utf8");
    const recorded =
      bytes <= MAX_RECORDED_EVENT_BYTES
        ? { event }
        : {
            event: { id: event.id, kind: event.kind, field: event.field, wabaId: event.wabaId },
            eventBytes: bytes,
          };
    const stored = await this.#t.put(
      {
        ...key.event(event.id),
        ...recorded,
        receivedAt: receivedAt.toISOString(),
        [table.ttlAttribute]: Math.floor(receivedAt.getTime() / 1000) + EVENT_RETENTION_DAYS * 86_400,
      },
      "attribute_not_exists(pk)",
    );
    return stored ? "stored" : "duplicate";
  }

  // ---- mapping ----

  #appItem(app: AppRecord): Item {
    const k = key.app(app.appId);
    const { appSecret, ...rest } = app;
    return {
      ...k,
      gsi1pk: "TYPE#app",
      gsi1sk: app.appId,
      ...rest,
      appSecretSealed: this.#t.seal(k.pk, "appSecret", appSecret),
    };
  }

  #toApp(item: Item): AppRecord {
    return {
      appId: String(item.appId),
      name: String(item.name),
      appSecret: this.#t.open(item, "appSecret"),
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
      accessTokenSealed: this.#t.seal(k.pk, "accessToken", accessToken),
    };
  }

  #toWaba(item: Item): WabaRecord {
    return {
      wabaId: String(item.wabaId),
      name: String(item.name),
      appId: String(item.appId),
      accessToken: this.#t.open(item, "accessToken"),
      subscribed: item.subscribed === true,
      subscribeError: (item.subscribeError as WabaRecord["subscribeError"]) ?? null,
      tokenStatus: (item.tokenStatus as WabaRecord["tokenStatus"]) ?? "unknown",
      ...(typeof item.businessId === "string" ? { businessId: item.businessId } : {}),
      createdAt: String(item.createdAt),
      updatedAt: String(item.updatedAt),
    };
  }
}
