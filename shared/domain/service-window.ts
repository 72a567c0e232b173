/**
 * WhatsApp's customer service window (meta-whatsapp.md §5.1): a customer's message or call opens 24 hours
 * in which any message may be sent; outside it only approved templates go through (otherwise Meta answers
 * 131047). Callers pass the time of the customer's latest message or call.
 */

export const SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * Open while less than 24 hours have passed since the customer's last message; at exactly 24 hours the
 * window has expired. No inbound message yet (or an unreadable date) means closed: only templates may go.
 */
export function isServiceWindowOpen(lastInboundAt: Date | undefined, now: Date): boolean {
  if (lastInboundAt === undefined) return false;
  const elapsed = now.getTime() - lastInboundAt.getTime();
  // NaN (an invalid Date) fails this comparison, which is the safe answer.
  return elapsed < SERVICE_WINDOW_MS;
}

/**
 * How stale the stored start of the window may be before a new customer message writes it again. The
 * stored time is then at most this much older than the truth: the window closes up to this much early,
 * never late, and a chatty customer costs one write per interval instead of one per message.
 */
export const WINDOW_REFRESH_MS = 5 * 60 * 1000;

/** Whether a customer's contact at `contactAtMs` must be written, given the time last written. */
export function windowNeedsWrite(writtenAtMs: number | undefined, contactAtMs: number): boolean {
  return writtenAtMs === undefined || !(contactAtMs - writtenAtMs < WINDOW_REFRESH_MS);
}

/** Shown to the operator in the chat instead of sending a free-form message the customer would not get. */
export function windowClosedNote(): string {
  return [
    "Not sent: the 24-hour WhatsApp customer service window is closed (the customer has not written in the last 24 hours).",
    "Only an approved template can start the conversation again. Send one by writing template-NAME+LANG,",
    "e.g. template-hello_world+en_US, with its variables after another + if it has any: template-NAME+LANG+value1|value2.",
  ].join(" ");
}
