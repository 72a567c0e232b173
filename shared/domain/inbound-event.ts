/**
 * One unit of inbound work: a single message, echo, status, call or other field change, cut out of a Meta
 * webhook. It travels through the inbound FIFO queue as JSON.
 */
export type InboundEventKind = "message" | "echo" | "status" | "call" | "field";

export interface InboundEvent {
  readonly v: 1;
  /** Stable across Meta's redeliveries of the same webhook: the dedup key everywhere downstream. */
  readonly id: string;
  readonly kind: InboundEventKind;
  readonly appId: string;
  /** `entry[].id`: the WhatsApp Business Account. */
  readonly wabaId: string;
  /** `changes[].field`, e.g. `messages`, `calls`, `message_template_status_update`. */
  readonly field: string;
  /** `value.metadata.phone_number_id` — our number — when the change has one. */
  readonly phoneNumberId?: string;
  /** The customer: `wa_id` (phone) or, when Meta omits it, the business-scoped `user_id`. */
  readonly customerId?: string;
  /** The customer's business-scoped user id, when Meta sent one (with or without the phone). */
  readonly customerUserId?: string;
  /** Unix seconds, as Meta stamped the item (or the entry), when present. */
  readonly timestamp?: number;
  /** The change's `value` reduced to this one item (plus its metadata and matching contact). */
  readonly value: Record<string, unknown>;
}
