import type { Status } from "../domain/message-status.ts";

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

/** A message we sent to WhatsApp, kept to route its statuses back to where it came from. */
export interface OutboundRecord {
  readonly wamid: string;
  readonly phoneId: string;
  readonly memberId: string;
  readonly customerId: string;
  readonly status: Status | "accepted";
  readonly origin:
    | { kind: "openlines"; lineId: number; chatId: string; imChatId: string; imMessageId: string }
    | { kind: "sms"; code: string; messageId: string };
  readonly createdAt: string;
}

export type ClaimOutcome = "claimed" | "delivered" | "busy";

export interface ConversationStore {
  /**
   * Claims a WhatsApp message for delivery with a lease: a crashed worker's claim expires and the retry
   * delivers; a delivered message is never claimed again.
   */
  claimInbound(wamid: string, leaseUntilMs: number, nowMs: number): Promise<ClaimOutcome>;
  markInboundDelivered(wamid: string, detail: Record<string, unknown>): Promise<void>;
  releaseInbound(wamid: string): Promise<void>;

  touchConversation(conversation: Conversation): Promise<void>;
  getConversation(phoneId: string, customerId: string): Promise<Conversation | undefined>;

  putOutbound(record: OutboundRecord): Promise<void>;
  getOutbound(wamid: string): Promise<OutboundRecord | undefined>;
  /** Stores `next` only if the stored status is still `expected` (statuses only move forward). */
  setOutboundStatus(wamid: string, expected: OutboundRecord["status"], next: Status): Promise<boolean>;
  recordUnmatchedStatus(eventId: string, event: unknown): Promise<void>;

  /** Counts occurrences (e.g. sends that timed out and may have landed twice). */
  increment(counter: string, by?: number): Promise<void>;
  readCounter(counter: string): Promise<number>;

  /** Forgets a WABA's cached templates, so the next look-up reads Meta's current list. */
  invalidateTemplates(wabaId: string): Promise<void>;
}

/** Media we keep for Bitrix24 to fetch: stored under a key, handed out as a time-limited URL. */
export interface MediaStore {
  put(key: string, bytes: Uint8Array, contentType: string): Promise<void>;
  presignedGetUrl(key: string, expiresInSeconds: number, fileName: string): Promise<string>;
}
