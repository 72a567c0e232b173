import { CONNECTOR_ID } from "../domain/bitrix-connector.ts";
import type { OpenLinesUser } from "../domain/bitrix-user.ts";
import { snippetOf } from "../domain/inbound-content.ts";
import { AppError, BitrixApiError } from "../errors.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { BitrixStore, PhoneRecord, PortalRecord } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { ConversationStore } from "../ports/conversations.ts";
import { type Metrics, metricNames, noMetrics } from "../ports/metrics.ts";
import { ENTERPRISE_PORTAL_RATE, type RateLimiter, STANDARD_PORTAL_RATE } from "../ports/rate-limiter.ts";

/** The queue delivery a piece of work is on: the last one gives up gracefully instead of failing. */
export interface Attempt {
  readonly number: number;
  readonly last: boolean;
  /** Tells the queue worker this record's message is queued for a send: its group may go on. */
  readonly handOff?: () => void;
  /** The group's previous record, when it was still running as this one started. */
  readonly previous?: Promise<void>;
}

/** Retry later: our record of a send is not written yet. */
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
  readonly metrics?: Metrics;
}

/**
 * How long a send waits for others to the same line before going out, and how many go in one call.
 * Short: a lone message's wait is billed Lambda time, and batches still fill while the line's previous
 * call is out (a line's calls go one after another).
 */
const BATCH_WINDOW_MS = 5;
const BATCH_MAX = 20;

interface Waiting {
  readonly id: string;
  /** The customer's chat on this line: one conversation, whose messages keep their order. */
  readonly chat: string;
  readonly payload: Json;
  readonly attempt: Attempt;
  readonly resolve: (outcome: "delivered" | "duplicate") => void;
  readonly reject: (error: unknown) => void;
}

const profileOf = (route: Route) =>
  route.portal.licenseFamily === "ent" ? ENTERPRISE_PORTAL_RATE : STANDARD_PORTAL_RATE;

export function makeLineSender({
  bitrixStore,
  conversations,
  bitrix,
  limiter,
  clock,
  metrics = noMetrics,
}: LineSenderDeps) {
  const batches = new Map<string, { route: Route; items: Waiting[] }>();
  /** Per open line, the flush in progress: a line's calls go one after another, so none overtakes. */
  const flushing = new Map<string, Promise<void>>();
  /**
   * Conversations whose message failed for now (it will be retried): their later messages must not go
   * out before it. Cleared when the conversation's next queue batch starts with a fresh first message.
   */
  const heldBack = new Set<string>();

  /**
   * Sends what has gathered for one open line in a single `imconnector.send.messages` call: conversations
   * a batch runs side by side often have a message for the same line at the same moment, and Bitrix24
   * counts requests, not messages. Each conversation has at most one message in a call, so order holds.
   * 1. One request from the portal's shared rate budget.
   * 2. A message already delivered is a duplicate (see `ConversationStore.isInboundDelivered`: its
   *    conversation is never in two workers at once, so no claim is written before the send).
   * 3. Send; check every `DATA.RESULT[i].SUCCESS`; mark each accepted message delivered — the one write
   *    of the delivery. A crash between the send and the mark delivers the message again on retry, as
   *    any claim would have after its lease.
   */
  async function flush(batch: { route: Route; items: Waiting[] }): Promise<void> {
    const { route } = batch;
    let items = batch.items.filter((item) => {
      if (!heldBack.has(item.chat)) return true;
      item.reject(new RetryLaterError(`an earlier message of chat ${item.chat} is still to be delivered`));
      return false;
    });
    if (items.length === 0) return;
    try {
      await limiter.acquire(route.portal.memberId, profileOf(route));
    } catch (error) {
      for (const item of items) item.reject(error);
      return;
    }
    const delivered = await Promise.all(
      items.map((item) => conversations.isInboundDelivered(item.id).catch((e: unknown) => e)),
    );
    items = items.filter((item, i) => {
      const seen = delivered[i];
      if (seen === false) return true;
      if (seen === true) item.resolve("duplicate");
      else item.reject(seen);
      return false;
    });
    if (items.length === 0) return;
    await send(route, items);
  }

  /** One call for the items; a refusal retrying cannot fix is tried message by message. */
  async function send(route: Route, items: Waiting[]): Promise<void> {
    let results: Json[];
    try {
      const result = await bitrix.call<{ DATA?: { RESULT?: Json[] } }>(
        route.portal.memberId,
        "imconnector.send.messages",
        {
          CONNECTOR: CONNECTOR_ID,
          LINE: route.lineId,
          MESSAGES: items.map((item) => item.payload),
        },
      );
      results = result?.DATA?.RESULT ?? [];
    } catch (error) {
      const permanent = (error as { transient?: boolean }).transient === false;
      const lineGone = error instanceof BitrixApiError && error.bitrixCode === "NOT_ACTIVE_LINE";
      if (permanent && !lineGone && items.length > 1) {
        // One bad message must not take the others down with it: each goes alone, with the requests
        // that costs taken from the portal's budget first.
        try {
          await limiter.acquire(route.portal.memberId, profileOf(route), items.length);
        } catch (limitError) {
          await failAll(route, items, limitError);
          return;
        }
        for (const item of items) await send(route, [item]);
        return;
      }
      await failAll(route, items, error);
      return;
    }
    await Promise.all(
      items.map(async (item, i) => {
        const result = results[i];
        if (!result || (result.SUCCESS !== true && result.SUCCESS !== "Y")) {
          const errors = Array.isArray(result?.ERRORS) ? result.ERRORS.join("; ") : "no per-message result";
          item.reject(new PermanentDeliveryError(`Bitrix24 did not accept message ${item.id}: ${errors}`));
          return;
        }
        // Bitrix24 has it: recording that is retried once if it fails.
        // A capped snippet of the text rides in the record written anyway, so a later reply or reaction
        // to this message can quote it (it expires with the record).
        const message = (item.payload.message ?? {}) as Json;
        const snippet = snippetOf(typeof message.text === "string" ? message.text : undefined);
        const detail = {
          session: result.session,
          line: route.lineId,
          attempt: item.attempt.number,
          ...(snippet ? { snippet } : {}),
          ...(typeof message.date === "number" ? { date: message.date } : {}),
        };
        await conversations
          .markInboundDelivered(item.id, detail)
          .catch(() => conversations.markInboundDelivered(item.id, detail))
          .then(
            () => item.resolve("delivered"),
            (error: unknown) => item.reject(error),
          );
      }),
    );
  }

  /** The whole call failed. Counting is best effort: each item is rejected whatever happens here. */
  async function failAll(route: Route, items: Waiting[], error: unknown): Promise<void> {
    if (error instanceof BitrixApiError && error.httpStatus === 0 && /no answer/.test(error.message)) {
      // Bitrix24 may have taken the messages before the timeout; their retry may then show them twice.
      metrics.count(metricNames.bitrixTimeouts, items.length, { portal: route.portal.memberId });
    }
    let reason = error;
    if (error instanceof BitrixApiError && error.bitrixCode === "NOT_ACTIVE_LINE") {
      await bitrixStore
        .setPhoneConnector(
          route.phone.phoneId,
          {
            status: "error",
            error: `NOT_ACTIVE_LINE: Bitrix24 refused messages on line ${route.lineId}; PATCH the phone to reconnect`,
          },
          clock.now().toISOString(),
        )
        .catch(() => undefined);
      reason = new PermanentDeliveryError(
        `${error.message} (the phone needs reconnecting; redrive after that)`,
      );
    }
    for (const item of items) item.reject(reason);
  }

  /**
   * Closes the batch (later messages start the next one) and sends it once the line's previous call is
   * done. Whatever goes wrong in a flush reaches its callers; nothing is left pending or unhandled.
   */
  function flushSafely(key: string, batch: { route: Route; items: Waiting[] }): void {
    if (batches.get(key) !== batch) return;
    batches.delete(key);
    const run = (flushing.get(key) ?? Promise.resolve()).then(() =>
      flush(batch).catch((error: unknown) => {
        for (const item of batch.items) item.reject(error);
      }),
    );
    flushing.set(key, run);
    void run.then(() => {
      if (flushing.get(key) === run) flushing.delete(key);
    });
  }

  /** Puts one message into the customer's Open Lines chat exactly once (see `flush`). */
  return function sendToLine(
    route: Route,
    user: OpenLinesUser,
    message: LineMessage,
    attempt: Attempt,
  ): Promise<"delivered" | "duplicate"> {
    const payload = {
      user,
      message: {
        id: message.id,
        date: message.date,
        text: message.text,
        ...(message.files?.length ? { files: message.files } : {}),
      },
      chat: { id: user.id, ...(message.chatUrl ? { url: message.chatUrl } : {}) },
    };
    const key = `${route.portal.memberId}:${route.lineId}`;
    const chat = `${key}:${user.id}`;
    // A conversation's first record of a queue batch: whatever held it back before is being retried now.
    if (!attempt.previous) heldBack.delete(chat);
    const sent = new Promise<"delivered" | "duplicate">((resolve, reject) => {
      let batch = batches.get(key);
      if (!batch) {
        const created = { route, items: [] as Waiting[] };
        batches.set(key, created);
        setTimeout(() => flushSafely(key, created), BATCH_WINDOW_MS);
        batch = created;
      }
      const holdBackOnRetry = (error: unknown) => {
        if ((error as { transient?: boolean }).transient !== false) heldBack.add(chat);
        reject(error);
      };
      batch.items.push({ id: message.id, chat, payload, attempt, resolve, reject: holdBackOnRetry });
      if (batch.items.length >= BATCH_MAX) flushSafely(key, batch);
    });
    // Queued in order behind the conversation's earlier messages: its next record may start.
    attempt.handOff?.();
    return sent;
  };
}
