import type { Readable } from "node:stream";
import type { Status } from "../domain/message-status.ts";
import type { MetaTemplate } from "../domain/template-shortcode.ts";
import type { Page } from "./store.ts";

/** Webhooks that named a phone number no phone is configured for: what Meta sends that nobody takes. */
export interface UnroutedPhone {
  readonly phoneNumberId: string;
  readonly wabaId?: string;
  readonly events: number;
  readonly lastEventId: string;
  readonly lastAt: string;
}

/** A customer's conversation with one of our numbers: what the 24-hour window and replies need. */
export interface Conversation {
  readonly phoneId: string;
  readonly customerId: string;
  readonly waId?: string;
  readonly userId?: string;
  readonly name?: string;
  /** Last time the customer wrote or called (ISO): the 24-hour customer service window starts here. */
  readonly lastInboundAt?: string;
}

/**
 * Where a customer's message sits: its conversation (our number, the customer's key) and Meta's
 * timestamp of it (seconds). The same message always names the same place, so its marker is found again
 * on a redelivery.
 */
export interface InboundPlace {
  readonly phoneId: string;
  readonly customerKey: string;
  readonly at: number;
}

/** The customer's latest message we put into the open line: what a reply marks read, and its chat. */
export interface LatestInbound {
  readonly wamid: string;
  /** The Bitrix24 chat (`session.CHAT_ID` of `imconnector.send.messages`) it went into, when known. */
  readonly chatId?: string;
}

/** A message we sent to WhatsApp, kept to route its statuses back to where it came from. */
export interface OutboundRecord {
  readonly wamid: string;
  readonly phoneId: string;
  readonly memberId: string;
  readonly customerId: string;
  readonly status: Status | "accepted";
  readonly origin:
    | { kind: "openlines"; lineId: number; chatId: string; imChatId: string; imMessageId: string }
    | { kind: "sms"; code: string; messageId: string }
    /** The CRM robot heard the send's result at once; later statuses have nowhere to go. */
    | { kind: "robot" };
  readonly createdAt: string;
  /** A capped snippet of its text, to quote when the customer replies or reacts to it. */
  readonly snippet?: string;
}

/** The Open Lines session a message went into (`session {ID, CHAT_ID}` of Bitrix24's answer). */
export interface LineSession {
  readonly ID: string;
  readonly CHAT_ID: string;
}

/**
 * What the store knows of a WhatsApp message before it is sent to its open line. `new`: nothing (never
 * sent, or sent and lost before the answer was marked — a crash); `delivered`: in the open line;
 * `uncertain`: an earlier send failed in a way that may have landed it (no answer, connection dropped);
 * `session` is where it would be, when known. It is looked for there before it is sent again, and sent
 * alone if it has to go again.
 */
export type InboundState = "new" | "delivered" | { uncertain: { session?: LineSession } };

/** A WABA's template list as last read from Meta. */
export interface CachedTemplates {
  readonly templates: MetaTemplate[];
  /** When the read from Meta started (ISO). */
  readonly fetchedAt: string;
}

/**
 * `stored`; `too-large`: even compressed the list does not fit a DynamoDB item, so it is not cached;
 * `stale`: not cached because the cache knows something newer — Meta reported a template change after
 * the read started, or a read that started later is already cached.
 */
export type TemplateCacheWrite = "stored" | "too-large" | "stale";

export interface ConversationStore {
  /**
   * Where a WhatsApp message stands (one strongly consistent read). No claim is written before a send:
   * one FIFO group is one conversation, which the event source never hands to two workers at once (the
   * visibility timeout outlasts the function's, a batch invoked late is made invisible again before any
   * work, and a long batch's heartbeat keeps it invisible), so the delivered marker alone makes a
   * redelivery a duplicate. With its place, the marker is looked for in the conversation (and, for a
   * message over a few minutes old, where markers were kept before).
   */
  inboundState(wamid: string, place?: InboundPlace): Promise<InboundState>;
  /**
   * The message is in the open line; replaces an `uncertain` marker. With its place (a customer's
   * message), the marker sits in the conversation, where `latestInbound` finds the newest.
   */
  markInboundDelivered(wamid: string, detail: Record<string, unknown>, place?: InboundPlace): Promise<void>;
  /**
   * A send failed in a way that may have landed the message: the retry's `inboundState` says so, with
   * the session it would be in. Written only then (a normal send writes nothing before it); never over
   * a delivered marker.
   */
  markInboundUncertain(wamid: string, session?: LineSession, place?: InboundPlace): Promise<void>;
  /**
   * What we kept of a message (ours or the customer's) to quote it: its text snippet and time. A
   * customer's message is looked for in its conversation.
   */
  getQuoted(
    wamid: string,
    conversation?: { phoneId: string; customerKey: string },
  ): Promise<{ text?: string; at?: number } | undefined>;
  /** The customer's latest message marked in this conversation (one query). */
  latestInbound(phoneId: string, customerKey: string): Promise<LatestInbound | undefined>;

  touchConversation(conversation: Conversation): Promise<void>;
  getConversation(phoneId: string, customerId: string): Promise<Conversation | undefined>;

  putOutbound(record: OutboundRecord): Promise<void>;
  getOutbound(wamid: string): Promise<OutboundRecord | undefined>;
  /** Stores `next` only if the stored status is still `expected` (statuses only move forward). */
  setOutboundStatus(wamid: string, expected: OutboundRecord["status"], next: Status): Promise<boolean>;
  recordUnmatchedStatus(eventId: string, event: unknown): Promise<void>;
  /** The wamid a part of an operator's message was sent as, so a retry does not send it again. */
  getOutboundPart(partId: string): Promise<string | undefined>;
  putOutboundPart(partId: string, wamid: string): Promise<void>;

  /** Counts a webhook for a phone number no phone is configured for, per number (admin API: unrouted). */
  recordUnrouted(event: {
    phoneNumberId: string;
    wabaId?: string;
    eventId: string;
    at: string;
  }): Promise<void>;
  listUnrouted(cursor: string | undefined, limit: number): Promise<Page<UnroutedPhone>>;

  /** Forgets a WABA's cached templates, so the next look-up reads Meta's current list. */
  invalidateTemplates(wabaId: string): Promise<void>;
  /** The WABA's cached templates, if any (undefined after `invalidateTemplates`). */
  getTemplates(wabaId: string): Promise<CachedTemplates | undefined>;
  /**
   * Caches the WABA's templates as read from Meta at `fetchedAt` (ISO, default now) — unless an
   * invalidation came in since then, or the list is too large for an item (see TemplateCacheWrite).
   */
  putTemplates(wabaId: string, templates: MetaTemplate[], fetchedAt?: string): Promise<TemplateCacheWrite>;
}

/** Media we keep for Bitrix24 to fetch: stored under a key, handed out as a time-limited URL. */
export interface MediaStore {
  /** Stores the bytes as they arrive (streamed; a failing stream leaves no object behind). */
  put(key: string, body: Readable | Uint8Array, contentType: string): Promise<void>;
  presignedGetUrl(key: string, expiresInSeconds: number, fileName: string): Promise<string>;
}
