import { CONNECTOR_ID } from "../domain/bitrix-connector.ts";
import type { OpenLinesUser } from "../domain/bitrix-user.ts";
import { AppError, BitrixApiError } from "../errors.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { BitrixStore, PhoneRecord, PortalRecord } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { ConversationStore } from "../ports/conversations.ts";
import { ENTERPRISE_PORTAL_RATE, type RateLimiter, STANDARD_PORTAL_RATE } from "../ports/rate-limiter.ts";

/** The queue delivery a piece of work is on: the last one gives up gracefully instead of failing. */
export interface Attempt {
  readonly number: number;
  readonly last: boolean;
}

/** Retry later: someone else holds the claim, or our record of a send is not written yet. */
export class RetryLaterError extends AppError {
  readonly transient = true;
  constructor(message: string) {
    super("retry_later", 503, message);
    this.name = "RetryLaterError";
  }
}

/** A failure retrying cannot fix: the event becomes a dead letter with this reason. */
export class PermanentDeliveryError extends AppError {
  readonly transient = false;
  constructor(message: string) {
    super("permanent_delivery_failure", 502, message);
    this.name = "PermanentDeliveryError";
  }
}

export const SEND_TIMEOUTS_COUNTER = "inbound.bitrix-send-timeouts";

export interface Route {
  readonly phone: PhoneRecord;
  readonly portal: PortalRecord;
  readonly lineId: number;
}

export interface LineMessage {
  readonly id: string;
  readonly date: number;
  readonly text: string;
  readonly files?: { url: string; name: string }[];
  readonly chatUrl?: string;
}

type Json = Record<string, unknown>;

export interface LineSenderDeps {
  readonly bitrixStore: BitrixStore;
  readonly conversations: ConversationStore;
  readonly bitrix: BitrixGateway;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
  /** How long a delivery claim holds before another worker may take the message over. */
  readonly leaseMs: number;
}

export function makeLineSender({
  bitrixStore,
  conversations,
  bitrix,
  limiter,
  clock,
  leaseMs,
}: LineSenderDeps) {
  /**
   * Puts one message into the customer's Open Lines chat exactly once: a claim with a lease on the
   * message id (a crashed worker's claim expires, so the retry delivers instead of losing it), the
   * portal's shared rate budget, `imconnector.send.messages`, and its per-message SUCCESS checked.
   */
  return async function sendToLine(
    route: Route,
    user: OpenLinesUser,
    message: LineMessage,
    attempt: Attempt,
  ): Promise<"delivered" | "duplicate"> {
    // The rate budget first: waiting for it while holding the claim could outlast the lease.
    await limiter.acquire(
      route.portal.memberId,
      route.portal.licenseFamily === "ent" ? ENTERPRISE_PORTAL_RATE : STANDARD_PORTAL_RATE,
    );
    const now = clock.now().getTime();
    const leaseUntil = now + leaseMs;
    const claim = await conversations.claimInbound(message.id, leaseUntil, now);
    if (claim === "delivered") return "duplicate";
    if (claim === "busy")
      throw new RetryLaterError(`message ${message.id} is being delivered by another worker`);
    let item: Json | undefined;
    try {
      const result = await bitrix.call<{ DATA?: { RESULT?: Json[] } }>(
        route.portal.memberId,
        "imconnector.send.messages",
        {
          CONNECTOR: CONNECTOR_ID,
          LINE: route.lineId,
          MESSAGES: [
            {
              user,
              message: {
                id: message.id,
                date: message.date,
                text: message.text,
                ...(message.files?.length ? { files: message.files } : {}),
              },
              chat: { id: user.id, ...(message.chatUrl ? { url: message.chatUrl } : {}) },
            },
          ],
        },
      );
      item = result?.DATA?.RESULT?.[0];
      if (!item || (item.SUCCESS !== true && item.SUCCESS !== "Y")) {
        const errors = Array.isArray(item?.ERRORS) ? item.ERRORS.join("; ") : "no per-message result";
        throw new PermanentDeliveryError(`Bitrix24 did not accept message ${message.id}: ${errors}`);
      }
    } catch (error) {
      await conversations.releaseInbound(message.id, leaseUntil);
      if (error instanceof BitrixApiError && error.httpStatus === 0 && /no answer/.test(error.message)) {
        // Bitrix24 may have taken the message before the timeout; the retry may then show it twice.
        await conversations.increment(SEND_TIMEOUTS_COUNTER);
      }
      if (error instanceof BitrixApiError && error.bitrixCode === "NOT_ACTIVE_LINE") {
        await bitrixStore.setPhoneConnector(
          route.phone.phoneId,
          {
            status: "error",
            error: `NOT_ACTIVE_LINE: Bitrix24 refused messages on line ${route.lineId}; PATCH the phone to reconnect`,
          },
          clock.now().toISOString(),
        );
        throw new PermanentDeliveryError(
          `${error.message} (the phone needs reconnecting; redrive after that)`,
        );
      }
      throw error;
    }
    // Outside the try: Bitrix24 has the message, so a failure to record that must not release the claim
    // (the retry would send it again) — it is retried here instead.
    const detail = { session: item.session, line: route.lineId, attempt: attempt.number };
    await conversations
      .markInboundDelivered(message.id, detail)
      .catch(() => conversations.markInboundDelivered(message.id, detail));
    return "delivered";
  };
}
