import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { ConflictError, NotFoundError } from "../../errors.ts";
import type {
  BitrixAppRecord,
  BitrixStore,
  PhoneCalling,
  PhoneRecord,
  PortalRecord,
  PortalTokens,
} from "../../ports/bitrix-store.ts";
import type { Page } from "../../ports/store.ts";
import { type Item, isConditionFailure, type TableClient, type TransactItem } from "./table-client.ts";

const key = {
  bitrixApp: (clientId: string) => ({ pk: `BXAPP#${clientId}`, sk: "BXAPP" }),
  portal: (memberId: string) => ({ pk: `PORTAL#${memberId}`, sk: "PORTAL" }),
  phone: (phoneId: string) => ({ pk: `PHONE#${phoneId}`, sk: "PHONE" }),
  line: (memberId: string, lineId: number) => ({ pk: `LINE#${memberId}#${lineId}`, sk: "LINE" }),
};

/** Bitrix24 apps, portals (tokens sealed, refreshed under a lease) and phones with their line look-up. */
export class DynamoBitrixStore implements BitrixStore {
  readonly #t: TableClient;

  constructor(tableClient: TableClient) {
    this.#t = tableClient;
  }

  // ---- Bitrix apps ----

  async createBitrixApp(app: BitrixAppRecord): Promise<void> {
    const k = key.bitrixApp(app.clientId);
    const { clientSecret, ...rest } = app;
    const item = {
      ...k,
      gsi1pk: "TYPE#bxapp",
      gsi1sk: app.clientId,
      ...rest,
      clientSecretSealed: this.#t.seal(k.pk, "clientSecret", clientSecret),
    };
    if (!(await this.#t.put(item, "attribute_not_exists(pk)"))) {
      throw new ConflictError(`Bitrix24 app ${app.clientId} already exists`);
    }
  }

  async getBitrixApp(clientId: string): Promise<BitrixAppRecord | undefined> {
    const item = await this.#t.get(key.bitrixApp(clientId));
    return item && this.#toBitrixApp(item);
  }

  async listBitrixApps(cursor?: string, limit = 50): Promise<Page<BitrixAppRecord>> {
    const page = await this.#t.listType("bxapp", cursor, limit);
    return { items: page.items.map((i) => this.#toBitrixApp(i)), nextCursor: page.nextCursor };
  }

  async deleteBitrixApp(clientId: string): Promise<void> {
    await this.#t.delete(key.bitrixApp(clientId));
  }

  // ---- portals ----

  async getPortal(memberId: string): Promise<PortalRecord | undefined> {
    const item = await this.#t.get(key.portal(memberId));
    return item && this.#toPortal(item);
  }

  async listPortals(cursor?: string, limit = 50): Promise<Page<PortalRecord>> {
    const page = await this.#t.listType("portal", cursor, limit);
    return { items: page.items.map((i) => this.#toPortal(i)), nextCursor: page.nextCursor };
  }

  async putPortal(portal: PortalRecord): Promise<void> {
    await this.#t.put(this.#portalItem(portal));
  }

  async savePortal(portal: PortalRecord, previous: PortalRecord | undefined): Promise<boolean> {
    const item = this.#portalItem(portal, previous);
    if (!previous) return this.#t.put(item, "attribute_not_exists(pk)");
    if (previous.revision === undefined)
      return this.#t.put(item, "attribute_exists(pk) AND attribute_not_exists(revision)");
    return this.#t.put(item, "revision = :r", undefined, { ":r": previous.revision });
  }

  async deletePortal(memberId: string): Promise<void> {
    await this.#t.delete(key.portal(memberId));
  }

  async setPortalSetupError(memberId: string, setupError: string | null): Promise<void> {
    await this.#updatePresentPortal(memberId, "SET setupError = :e", { ":e": setupError });
  }

  async acquireRefreshLease(
    memberId: string,
    version: number,
    leaseUntilMs: number,
    nowMs: number,
  ): Promise<boolean> {
    try {
      await this.#t.db.send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: key.portal(memberId),
          UpdateExpression: "SET refreshLeaseUntil = :until",
          ConditionExpression:
            "tokenVersion = :v AND (attribute_not_exists(refreshLeaseUntil) OR refreshLeaseUntil < :now)",
          ExpressionAttributeValues: { ":until": leaseUntilMs, ":v": version, ":now": nowMs },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async saveRefreshedTokens(
    memberId: string,
    previousVersion: number,
    tokens: PortalTokens,
  ): Promise<boolean> {
    const k = key.portal(memberId);
    try {
      await this.#t.db.send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: k,
          // The revision moves too: an install that read the portal before this must not write back the
          // refresh token just spent.
          UpdateExpression:
            "SET tokensSealed = :t, tokenVersion = :next, revision = if_not_exists(revision, :zero) + :one REMOVE refreshLeaseUntil",
          ConditionExpression: "tokenVersion = :v",
          ExpressionAttributeValues: {
            ":t": this.#t.seal(k.pk, "tokens", JSON.stringify(tokens)),
            ":next": tokens.version,
            ":v": previousVersion,
            ":zero": 0,
            ":one": 1,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async releaseRefreshLease(memberId: string): Promise<void> {
    await this.#t.db.send(
      new UpdateCommand({
        TableName: this.#t.tableName,
        Key: key.portal(memberId),
        UpdateExpression: "REMOVE refreshLeaseUntil",
        ConditionExpression: "attribute_exists(pk)",
      }),
    );
  }

  // ---- phones ----

  async createPhone(phone: PhoneRecord): Promise<void> {
    if (!(await this.#t.put(this.#phoneItem(phone), "attribute_not_exists(pk)"))) {
      throw new ConflictError(`Phone id ${phone.phoneId} is already used`);
    }
  }

  async getPhone(phoneId: string): Promise<PhoneRecord | undefined> {
    const item = await this.#t.get(key.phone(phoneId));
    return item && toPhone(item);
  }

  async listPhones(cursor?: string, limit = 50): Promise<Page<PhoneRecord>> {
    const page = await this.#t.listType("phone", cursor, limit);
    return { items: page.items.map(toPhone), nextCursor: page.nextCursor };
  }

  async putPhone(phone: PhoneRecord, previous: PhoneRecord | undefined): Promise<void> {
    const before = previous?.line ? key.line(previous.memberId, previous.line.id) : undefined;
    const after = phone.line ? key.line(phone.memberId, phone.line.id) : undefined;
    const moved = before?.pk !== after?.pk;
    await this.#t.transact(
      [
        previous ? this.#phoneUpdate(phone) : this.#t.putItem(this.#phoneItem(phone)),
        ...(moved && before ? [this.#t.deleteItem(before)] : []),
        ...(moved && after ? [this.#t.putItem({ ...after, phoneId: phone.phoneId })] : []),
      ],
      () => new NotFoundError(`Phone ${phone.phoneId} not found`),
    );
  }

  async deletePhone(phone: PhoneRecord): Promise<void> {
    await this.#t.transact(
      [
        this.#t.deleteItem(key.phone(phone.phoneId)),
        ...(phone.line ? [this.#t.deleteItem(key.line(phone.memberId, phone.line.id))] : []),
      ],
      () => new NotFoundError(`Phone ${phone.phoneId} not found`),
    );
  }

  async findPhoneByLine(memberId: string, lineId: number): Promise<PhoneRecord | undefined> {
    const pointer = await this.#t.get(key.line(memberId, lineId));
    return pointer ? this.getPhone(String(pointer.phoneId)) : undefined;
  }

  async setPhoneConnector(
    phoneId: string,
    connector: PhoneRecord["connector"],
    updatedAt: string,
  ): Promise<void> {
    await this.#t.db.send(
      new UpdateCommand({
        TableName: this.#t.tableName,
        Key: key.phone(phoneId),
        UpdateExpression: "SET connector = :c, updatedAt = :u",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":c": connector, ":u": updatedAt },
      }),
    );
  }

  async setPhoneCalling(phoneId: string, calling: PhoneCalling): Promise<void> {
    try {
      await this.#t.db.send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: key.phone(phoneId),
          UpdateExpression: "SET #calling = :c, updatedAt = :u",
          ConditionExpression: "attribute_exists(pk)",
          // CALLING is a DynamoDB reserved word.
          ExpressionAttributeNames: { "#calling": "calling" },
          ExpressionAttributeValues: { ":c": calling, ":u": calling.updatedAt },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) throw new NotFoundError(`Phone ${phoneId} not found`);
      throw error;
    }
  }

  async movePortalEndpoint(memberId: string, clientEndpoint: string, domain: string): Promise<void> {
    await this.#updatePresentPortal(
      memberId,
      "SET clientEndpoint = :e, #domain = :d",
      { ":e": clientEndpoint, ":d": domain },
      { "#domain": "domain" },
    );
  }

  /**
   * Updates some fields of a stored portal; one removed meanwhile (while its set-up ran, or before a
   * REST call's redirect was followed) stays removed: a bare item would not read as a portal.
   */
  async #updatePresentPortal(
    memberId: string,
    update: string,
    values: Record<string, unknown>,
    names?: Record<string, string>,
  ): Promise<void> {
    try {
      await this.#t.db.send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: key.portal(memberId),
          UpdateExpression: update,
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async listPhonesOfPortal(memberId: string): Promise<PhoneRecord[]> {
    return (await this.#t.allOfType("phone")).filter((p) => p.memberId === memberId).map(toPhone);
  }

  // ---- mapping ----

  #toBitrixApp(item: Item): BitrixAppRecord {
    return {
      clientId: String(item.clientId),
      name: String(item.name),
      clientSecret: this.#t.open(item, "clientSecret"),
      createdAt: String(item.createdAt),
      updatedAt: String(item.updatedAt),
    };
  }

  /** `revision` grows from the record the write is based on (`previous`, else the portal itself). */
  #portalItem(portal: PortalRecord, previous: PortalRecord | undefined = portal): Item {
    const k = key.portal(portal.memberId);
    const { applicationToken, handlerSecret, tokens, revision: _revision, ...rest } = portal;
    return {
      ...k,
      gsi1pk: "TYPE#portal",
      gsi1sk: portal.memberId,
      ...rest,
      applicationTokenSealed: this.#t.seal(k.pk, "applicationToken", applicationToken),
      handlerSecretSealed: this.#t.seal(k.pk, "handlerSecret", handlerSecret),
      tokensSealed: tokens ? this.#t.seal(k.pk, "tokens", JSON.stringify(tokens)) : undefined,
      tokenVersion: tokens?.version ?? 0,
      revision: (previous?.revision ?? 0) + 1,
    };
  }

  #toPortal(item: Item): PortalRecord {
    return {
      memberId: String(item.memberId),
      domain: String(item.domain),
      clientEndpoint: String(item.clientEndpoint),
      serverEndpoint: item.serverEndpoint === undefined ? undefined : String(item.serverEndpoint),
      clientId: String(item.clientId),
      applicationToken: this.#t.open(item, "applicationToken"),
      handlerSecret: this.#t.open(item, "handlerSecret"),
      handlerBaseUrl: String(item.handlerBaseUrl),
      status: item.status === "uninstalled" ? "uninstalled" : "installed",
      licenseFamily: item.licenseFamily === undefined ? undefined : String(item.licenseFamily),
      ...(Array.isArray(item.adminUserIds) ? { adminUserIds: item.adminUserIds.map(Number) } : {}),
      tokens: item.tokensSealed ? (JSON.parse(this.#t.open(item, "tokens")) as PortalTokens) : null,
      setupError: item.setupError === undefined || item.setupError === null ? null : String(item.setupError),
      installedAt: String(item.installedAt),
      updatedAt: String(item.updatedAt),
      ...(typeof item.revision === "number" ? { revision: item.revision } : {}),
    };
  }

  /**
   * Every field but the calling settings, which have their own writer: a connect or PATCH running beside
   * a calling PUT must not write back the calling settings it read.
   */
  #phoneUpdate(phone: PhoneRecord): TransactItem {
    const { calling: _calling, ...fields } = this.#phoneItem(phone);
    const entries = Object.entries(fields).filter(([k, v]) => k !== "pk" && k !== "sk" && v !== undefined);
    return {
      Update: {
        TableName: this.#t.tableName,
        Key: key.phone(phone.phoneId),
        UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(", ")}`,
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeNames: Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])),
      },
    };
  }

  #phoneItem(phone: PhoneRecord): Item {
    return { ...key.phone(phone.phoneId), gsi1pk: "TYPE#phone", gsi1sk: phone.phoneId, ...phone };
  }
}

function toPhone(item: Item): PhoneRecord {
  return {
    phoneId: String(item.phoneId),
    phone: String(item.phone),
    wabaId: String(item.wabaId),
    memberId: String(item.memberId),
    smsService: item.smsService === true,
    line: (item.line as PhoneRecord["line"]) ?? null,
    connector: (item.connector as PhoneRecord["connector"]) ?? { status: "pending" },
    smsSender: (item.smsSender as PhoneRecord["smsSender"]) ?? null,
    readReceipts: item.readReceipts !== false,
    typingIndicator: item.typingIndicator === true,
    ...(item.calling ? { calling: item.calling as PhoneCalling } : {}),
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
  };
}
