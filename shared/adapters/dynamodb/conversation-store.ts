import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import { QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { Status } from "../../domain/message-status.ts";
import type { MetaTemplate } from "../../domain/template-shortcode.ts";
import type {
  CachedTemplates,
  Conversation,
  ConversationStore,
  InboundPlace,
  InboundState,
  LatestInbound,
  LineSession,
  OutboundRecord,
  TemplateCacheWrite,
  UnroutedPhone,
} from "../../ports/conversations.ts";
import type { Page } from "../../ports/store.ts";
import { table } from "../../resources.ts";
import { isConditionFailure, type TableClient } from "./table-client.ts";

const DAY_S = 86_400;
const RETAIN_DAYS = 30;
const UNROUTED = "unrouted";

const key = {
  inbound: (wamid: string) => ({ pk: `INMSG#${wamid}`, sk: "INMSG" }),
  /**
   * A customer's message, in its conversation's partition ordered by Meta's timestamp: the newest is one
   * query away (what a reply marks read), with no other item written per message.
   */
  placed: (wamid: string, place: InboundPlace) => ({
    pk: conversationMessages(place.phoneId, place.customerKey),
    sk: `${String(place.at).padStart(12, "0")}#${wamid}`,
  }),
  conversation: (phoneId: string, customerId: string) => ({
    pk: `CONV#${phoneId}#${customerId}`,
    sk: "CONV",
  }),
  outbound: (wamid: string) => ({ pk: `OUT#${wamid}`, sk: "OUT" }),
  unmatched: (eventId: string) => ({ pk: `UNMATCHED#${eventId}`, sk: "UNMATCHED" }),
  unrouted: (phoneNumberId: string) => ({ pk: `UNROUTED#${phoneNumberId}`, sk: "UNROUTED" }),
  templates: (wabaId: string) => ({ pk: `TPL#${wabaId}`, sk: "TPL" }),
};

const conversationMessages = (phoneId: string, customerKey: string) => `INMSG#${phoneId}#${customerKey}`;

/**
 * A message older than this may have been marked delivered before markers moved into the conversation's
 * partition: its old marker is looked at too. A new message arrives within seconds of its timestamp, so
 * in steady state no such read happens; only retries and Meta's late redeliveries pay it.
 */
const EARLIER_MARKER_AGE_S = 300;
/** How many of a conversation's newest messages a look-up by id alone reads (bounds its cost). */
const RECENT_MESSAGES_LOOKED_AT = 50;

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * A DynamoDB item holds at most 400 KB (attribute names and values); the compressed list may use this
 * much, leaving room for the key and the other attributes.
 */
export const MAX_TEMPLATE_CACHE_BYTES = 380_000;
/** Layout of the template cache item; another value reads as "not cached". */
const TEMPLATE_CACHE_FORMAT = 1;

const expiry = (days = RETAIN_DAYS) => ({
  [table.ttlAttribute]: Math.floor(Date.now() / 1000) + days * DAY_S,
});

/** Delivered markers, conversations (24-hour window), sent messages and their statuses. */
export class DynamoConversationStore implements ConversationStore {
  readonly #t: TableClient;

  constructor(tableClient: TableClient) {
    this.#t = tableClient;
  }

  async inboundState(wamid: string, place?: InboundPlace): Promise<InboundState> {
    let item = await this.#t.get(place ? key.placed(wamid, place) : key.inbound(wamid));
    if (!item && place && place.at < Date.now() / 1000 - EARLIER_MARKER_AGE_S) {
      // An old message: marked before markers moved, or (a history copy) under another timestamp.
      item =
        (await this.#t.get(key.inbound(wamid))) ??
        (await this.#findInConversation(wamid, place, RECENT_MESSAGES_LOOKED_AT));
    }
    if (item?.state === "delivered") return "delivered";
    if (item?.state === "uncertain")
      return { uncertain: item.session ? { session: item.session as LineSession } : {} };
    return "new";
  }

  async markInboundDelivered(
    wamid: string,
    detail: Record<string, unknown>,
    place?: InboundPlace,
  ): Promise<void> {
    await this.#t.put({
      ...(place ? key.placed(wamid, place) : key.inbound(wamid)),
      state: "delivered",
      wamid,
      deliveredAt: new Date().toISOString(),
      detail,
      ...expiry(),
    });
  }

  async markInboundUncertain(wamid: string, session?: LineSession, place?: InboundPlace): Promise<void> {
    // Never over a delivered marker: a send that landed meanwhile (the retry's) stays a duplicate.
    await this.#t.put(
      {
        ...(place ? key.placed(wamid, place) : key.inbound(wamid)),
        state: "uncertain",
        wamid,
        ...(session ? { session } : {}),
        ...expiry(),
      },
      "attribute_not_exists(pk) OR #state <> :delivered",
      { "#state": "state" },
      { ":delivered": "delivered" },
    );
  }

  async latestInbound(phoneId: string, customerKey: string): Promise<LatestInbound | undefined> {
    const out = await this.#t.db.send(
      new QueryCommand({
        TableName: this.#t.tableName,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": conversationMessages(phoneId, customerKey) },
        ScanIndexForward: false,
        // Meta stamps seconds: of the newest second's messages, the one delivered last is the latest.
        Limit: 5,
        ConsistentRead: true,
      }),
    );
    const items = out.Items ?? [];
    const newestSecond = String(items[0]?.sk ?? "").split("#")[0];
    const latest = items
      .filter((i) => String(i.sk).split("#")[0] === newestSecond)
      .sort((a, b) => String(b.deliveredAt ?? "").localeCompare(String(a.deliveredAt ?? "")))[0];
    if (!latest || typeof latest.wamid !== "string") return undefined;
    const chatId = chatIdOf(latest);
    return { wamid: latest.wamid, ...(chatId ? { chatId } : {}) };
  }

  async getQuoted(
    wamid: string,
    conversation?: { phoneId: string; customerKey: string },
  ): Promise<{ text?: string; at?: number } | undefined> {
    // Most quotes are of our own messages; then the customer's, in their conversation; then an old marker.
    const out = await this.#t.get(key.outbound(wamid));
    if (out) {
      const at = Date.parse(String(out.createdAt));
      return {
        ...(typeof out.snippet === "string" ? { text: out.snippet } : {}),
        ...(Number.isNaN(at) ? {} : { at: Math.floor(at / 1000) }),
      };
    }
    const inbound =
      (conversation && (await this.#findInConversation(wamid, conversation))) ??
      (await this.#t.get(key.inbound(wamid)));
    const detail = inbound?.detail as { snippet?: unknown; date?: unknown } | undefined;
    if (!detail) return undefined;
    return {
      ...(typeof detail.snippet === "string" ? { text: detail.snippet } : {}),
      ...(typeof detail.date === "number" ? { at: detail.date } : {}),
    };
  }

  /** The customer's message by its id alone (its time unknown): its conversation's newest, filtered. */
  async #findInConversation(
    wamid: string,
    conversation: { phoneId: string; customerKey: string },
    newest = RECENT_MESSAGES_LOOKED_AT,
  ): Promise<Record<string, unknown> | undefined> {
    const out = await this.#t.db.send(
      new QueryCommand({
        TableName: this.#t.tableName,
        KeyConditionExpression: "pk = :pk",
        FilterExpression: "wamid = :wamid",
        ExpressionAttributeValues: {
          ":pk": conversationMessages(conversation.phoneId, conversation.customerKey),
          ":wamid": wamid,
        },
        ScanIndexForward: false,
        Limit: newest,
        ConsistentRead: true,
      }),
    );
    return out.Items?.[0];
  }

  async touchConversation(c: Conversation): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    for (const [field, value] of Object.entries(c)) {
      if (value === undefined || field === "phoneId" || field === "customerId") continue;
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    names["#ttl"] = table.ttlAttribute;
    values[":ttl"] = expiry(90)[table.ttlAttribute];
    sets.push("#ttl = :ttl", "phoneId = :phoneId", "customerId = :customerId");
    values[":phoneId"] = c.phoneId;
    values[":customerId"] = c.customerId;
    try {
      await this.#t.db.send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: key.conversation(c.phoneId, c.customerId),
          UpdateExpression: `SET ${sets.join(", ")}`,
          // The window only moves forward: a redelivered or reordered older message leaves it as it is
          // (ISO times of one format compare as strings). Meta stamps seconds: a message of the same
          // second, later in the conversation's order, still becomes the last one (the one to mark read).
          ConditionExpression:
            c.lastInboundAt === undefined
              ? undefined
              : "attribute_not_exists(#lastInboundAt) OR #lastInboundAt <= :lastInboundAt",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async getConversation(phoneId: string, customerId: string): Promise<Conversation | undefined> {
    const item = await this.#t.get(key.conversation(phoneId, customerId));
    if (!item) return undefined;
    const { pk: _pk, sk: _sk, [table.ttlAttribute]: _ttl, ...rest } = item;
    return rest as unknown as Conversation;
  }

  async putOutbound(record: OutboundRecord): Promise<void> {
    await this.#t.put({ ...key.outbound(record.wamid), ...record, ...expiry() });
  }

  async getOutbound(wamid: string): Promise<OutboundRecord | undefined> {
    const item = await this.#t.get(key.outbound(wamid));
    if (!item) return undefined;
    const { pk: _pk, sk: _sk, [table.ttlAttribute]: _ttl, ...rest } = item;
    return rest as unknown as OutboundRecord;
  }

  async setOutboundStatus(wamid: string, expected: OutboundRecord["status"], next: Status): Promise<boolean> {
    try {
      await this.#t.db.send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: key.outbound(wamid),
          UpdateExpression: "SET #status = :next",
          ConditionExpression: "#status = :expected",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ":next": next, ":expected": expected },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async getOutboundPart(partId: string): Promise<string | undefined> {
    const item = await this.#t.get({ pk: `OUTPART#${partId}`, sk: "OUTPART" });
    return typeof item?.wamid === "string" ? item.wamid : undefined;
  }

  async putOutboundPart(partId: string, wamid: string): Promise<void> {
    await this.#t.put({ pk: `OUTPART#${partId}`, sk: "OUTPART", wamid, ...expiry() });
  }

  async recordUnmatchedStatus(eventId: string, event: unknown): Promise<void> {
    await this.#t.put({
      ...key.unmatched(eventId),
      event,
      recordedAt: new Date().toISOString(),
      ...expiry(),
    });
  }

  async recordUnrouted(event: {
    phoneNumberId: string;
    wabaId?: string;
    eventId: string;
    at: string;
  }): Promise<void> {
    await this.#t.db.send(
      new UpdateCommand({
        TableName: this.#t.tableName,
        Key: key.unrouted(event.phoneNumberId),
        UpdateExpression:
          "ADD events :one SET gsi1pk = :type, gsi1sk = :phone, phoneNumberId = :phone, wabaId = :waba, lastEventId = :event, lastAt = :at",
        ExpressionAttributeValues: {
          ":one": 1,
          ":type": `TYPE#${UNROUTED}`,
          ":phone": event.phoneNumberId,
          ":waba": event.wabaId ?? null,
          ":event": event.eventId,
          ":at": event.at,
        },
      }),
    );
  }

  async listUnrouted(cursor: string | undefined, limit: number): Promise<Page<UnroutedPhone>> {
    const page = await this.#t.listType(UNROUTED, cursor, limit);
    return {
      items: page.items.map((i) => ({
        phoneNumberId: String(i.phoneNumberId),
        ...(typeof i.wabaId === "string" ? { wabaId: i.wabaId } : {}),
        events: Number(i.events),
        lastEventId: String(i.lastEventId),
        lastAt: String(i.lastAt),
      })),
      nextCursor: page.nextCursor,
    };
  }

  /**
   * Template cache item `TPL#<wabaId>`/`TPL`: `templatesGz` (Binary) is the gzip of the templates' JSON
   * array, `fetchedAtMs` when the read from Meta started, `format` the layout version, `count` for
   * people reading the table. An invalidation removes the list and leaves `invalidatedAtMs`, so that a
   * read from Meta that started before it is not cached after it; a read older than the cached one is
   * not cached either.
   */
  async invalidateTemplates(wabaId: string): Promise<void> {
    await this.#t.db.send(
      new UpdateCommand({
        TableName: this.#t.tableName,
        Key: key.templates(wabaId),
        UpdateExpression: "SET invalidatedAtMs = :now, #ttl = :ttl REMOVE templatesGz, fetchedAtMs, #count",
        ExpressionAttributeNames: { "#ttl": table.ttlAttribute, "#count": "count" },
        ExpressionAttributeValues: { ":now": Date.now(), ":ttl": expiry()[table.ttlAttribute] },
      }),
    );
  }

  async getTemplates(wabaId: string): Promise<CachedTemplates | undefined> {
    const item = await this.#t.get(key.templates(wabaId));
    const gz = item?.templatesGz;
    if (item?.format !== TEMPLATE_CACHE_FORMAT || !(gz instanceof Uint8Array)) return undefined;
    if (typeof item.fetchedAtMs !== "number") return undefined;
    const templates = JSON.parse((await gunzipAsync(gz)).toString("utf8")) as unknown;
    if (!Array.isArray(templates)) return undefined;
    return { templates: templates as MetaTemplate[], fetchedAt: new Date(item.fetchedAtMs).toISOString() };
  }

  async putTemplates(
    wabaId: string,
    templates: MetaTemplate[],
    fetchedAt: string = new Date().toISOString(),
  ): Promise<TemplateCacheWrite> {
    const gz = await gzipAsync(JSON.stringify(templates));
    if (gz.length > MAX_TEMPLATE_CACHE_BYTES) return "too-large";
    const parsed = Date.parse(fetchedAt);
    const fetchedAtMs = Number.isNaN(parsed) ? Date.now() : parsed;
    try {
      await this.#t.db.send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: key.templates(wabaId),
          UpdateExpression:
            "SET templatesGz = :gz, fetchedAtMs = :fetched, #format = :format, #count = :count, #ttl = :ttl",
          ConditionExpression:
            "(attribute_not_exists(invalidatedAtMs) OR invalidatedAtMs < :fetched) AND " +
            "(attribute_not_exists(fetchedAtMs) OR fetchedAtMs <= :fetched)",
          ExpressionAttributeNames: { "#format": "format", "#count": "count", "#ttl": table.ttlAttribute },
          ExpressionAttributeValues: {
            ":gz": gz,
            ":fetched": fetchedAtMs,
            ":format": TEMPLATE_CACHE_FORMAT,
            ":count": templates.length,
            ":ttl": expiry()[table.ttlAttribute],
          },
        }),
      );
      return "stored";
    } catch (error) {
      if (isConditionFailure(error)) return "stale";
      throw error;
    }
  }
}

/** The Bitrix24 chat (`session.CHAT_ID` of `imconnector.send.messages`) a delivered message went into. */
function chatIdOf(item: Record<string, unknown>): string | undefined {
  const session = (item.detail as { session?: { CHAT_ID?: unknown } } | undefined)?.session;
  const chatId = session?.CHAT_ID;
  return typeof chatId === "string" || typeof chatId === "number" ? String(chatId) : undefined;
}
