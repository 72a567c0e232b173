/**
 * Delivery status of a message we sent to WhatsApp, as `statuses[].status` reports it. Webhooks arrive
 * concurrently, retried and out of order, so the stored status only ever moves forward.
 */
export const STATUSES = ["sent", "delivered", "read", "played", "failed"] as const;
export type Status = (typeof STATUSES)[number];

// `played` (first play of a voice message) can only follow the customer opening it, so it outranks
// `read`. Meta may skip `delivered` and report `read` straight away; ranks, not steps, decide.
const RANK: Readonly<Record<Exclude<Status, "failed">, number>> = {
  sent: 1,
  delivered: 2,
  read: 3,
  played: 4,
};

export function parseStatus(value: unknown): Status | undefined {
  const lower = typeof value === "string" ? value.trim().toLowerCase() : undefined;
  return STATUSES.find((s) => s === lower);
}

/**
 * The status to store when `incoming` arrives on top of `current`, or `undefined` when the webhook must
 * be ignored (a repeat, a late arrival, or a contradiction).
 *
 * - `failed` is final: a message Meta gave up on never comes back to life.
 * - `failed` replaces `sent` and `delivered`: Meta can still fail a message it accepted, and the
 *   operator must hear about it.
 * - `failed` after `read`/`played` is ignored: the customer saw the message, and a "not delivered" note
 *   would mislead the operator.
 */
export function nextStatus(current: Status | undefined, incoming: Status): Status | undefined {
  if (current === undefined) return incoming;
  if (current === "failed") return undefined;
  if (incoming === "failed") return RANK[current] < RANK.read ? "failed" : undefined;
  return RANK[incoming] > RANK[current] ? incoming : undefined;
}
