import { CONNECTOR_ID } from "../domain/bitrix-connector.ts";
import type { OpenLinesUser } from "../domain/bitrix-user.ts";
import { snippetOf } from "../domain/inbound-content.ts";
import { AppError, BitrixApiError } from "../errors.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { BitrixStore, PhoneRecord, PortalRecord } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { ConversationStore, InboundPlace, LineSession } from "../ports/conversations.ts";
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
  /** Settles once the group's next record in this queue batch has queued its work or finished. */
  readonly nextQueued?: Promise<void>;
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
  /** A customer's message: where its marker goes (see `ConversationStore.markInboundDelivered`). */
  readonly place?: InboundPlace;
}

type Json = Record<string, unknown>;

/** What has gathered for one open line's next call. */
interface Batch {
  readonly route: Route;
  readonly items: Waiting[];
  /** When the latest message joined (ms): the wait for followers counts from it. */
  lastJoinedAt: number;
}

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
/**
 * How long after its latest message a call may wait for the next message of one of its conversations
 * that the worker's queue batch holds (a conversation's records are prepared one after another, each
 * some DynamoDB round trips): one busy conversation's batch of ten then goes in one call instead of one
 * or two at a time. Bounded for a next record that is slow to prepare (media); a queue batch holds at
 * most ten records, so a call waits at most ten times this.
 */
const FOLLOWER_WAIT_MS = 250;
/**
 * Bitrix24 has no idempotency key for `imconnector.send.messages`, so a call that lands and then times
 * out would duplicate every message in it on retry. Its messages are first looked for in their Open
 * Lines session (`imopenlines.session.history.get` lists the session's messages with the connector's own
 * id in `params.connectorMid`); what is not found (or whose session is not known yet: the first message
 * of a chat) goes again one per call. After such a failure a portal counts as slow for a while (in this
 * worker) and its calls carry few messages.
 */
const SLOW_FOR_MS = 60_000;
const SLOW_BATCH_MAX = 2;

interface Waiting {
  readonly id: string;
  /** The conversation's next record in the queue batch has not yet queued its work or finished. */
  followerPending: boolean;
  /** The customer's chat on this line: one conversation, whose messages keep their order. */
  readonly chat: string;
  readonly payload: Json;
  readonly place?: InboundPlace;
  readonly attempt: Attempt;
  /** An earlier send may have landed it: looked for first, then sent in a call of its own. */
  uncertain?: boolean;
  /** Where that earlier send would have put it, as recorded with the uncertain marker. */
  session?: LineSession;
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
  const batches = new Map<string, Batch>();
  /** Per open line, the flush in progress: a line's calls go one after another, so none overtakes. */
  const flushing = new Map<string, Promise<void>>();
  /**
   * Conversations whose message failed (it will be retried, or it became a dead letter that holds its
   * conversation): their later messages must not go out before it. Cleared when the conversation's next
   * queue batch starts with a fresh first message.
   */
  const heldBack = new Set<string>();
  const slowUntil = new Map<string, number>();
  /** The last session Bitrix24 reported per chat (`memberId:lineId:chatId`), for looking messages up. */
  const sessions = new Map<string, LineSession>();
  const batchMaxFor = (memberId: string) =>
    (slowUntil.get(memberId) ?? 0) > clock.now().getTime() ? SLOW_BATCH_MAX : BATCH_MAX;

  /**
   * Sends what has gathered for one open line in a single `imconnector.send.messages` call: conversations
   * a batch runs side by side often have a message for the same line at the same moment, and Bitrix24
   * counts requests, not messages. A conversation's messages are in a call in the order they came.
   * 1. One request from the portal's shared rate budget.
   * 2. One read per message (`ConversationStore.inboundState`: its conversation is never in two workers
   *    at once, so no claim is written before the send): a delivered one is a duplicate; an uncertain
   *    one (an earlier call got no answer) is looked for in its session, and goes alone if not found.
   * 3. Send; check every `DATA.RESULT[i].SUCCESS`; mark each accepted message delivered — the one write
   *    of a normal delivery. A crash between the send and the mark delivers the message again on retry,
   *    as any claim would have after its lease; a call that got no answer writes an uncertain marker.
   */
  async function flush(batch: Batch): Promise<void> {
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
    const states = await Promise.all(
      items.map((item) => conversations.inboundState(item.id, item.place).catch((e: unknown) => e)),
    );
    items = items.filter((item, i) => {
      const state = states[i];
      if (state === "delivered") {
        item.resolve("duplicate");
        return false;
      }
      // An earlier message of the conversation in this call could not be looked up (it is retried):
      // this one must not go out before it.
      if (heldBack.has(item.chat)) {
        item.reject(new RetryLaterError(`an earlier message of chat ${item.chat} is still to be delivered`));
        return false;
      }
      if (state === "new") return true;
      if (typeof state === "object" && state !== null && "uncertain" in state) {
        item.uncertain = true;
        item.session = (state as { uncertain: { session?: LineSession } }).uncertain.session;
        return true;
      }
      item.reject(state);
      return false;
    });
    if (items.length === 0) return;
    const found = await landedEarlier(
      route,
      items.filter((item) => item.uncertain),
    );
    if (found.size > 0) {
      metrics.count(metricNames.bitrixFoundLanded, found.size, { portal: route.portal.memberId });
      await Promise.all(
        items
          .filter((item) => found.has(item.id))
          .map((item) => recordDelivered(route, item, { foundInSession: true })),
      );
      items = items.filter((item) => !found.has(item.id));
      if (items.length === 0) return;
    }
    // An uncertain message goes alone. A batch may hold several messages of one conversation (in
    // order), so every message of a conversation with an uncertain one goes alone too, one call after
    // another; the other conversations share one call beside them.
    const uncertainChats = new Set(items.filter((item) => item.uncertain).map((item) => item.chat));
    const together = items.filter((item) => !uncertainChats.has(item.chat));
    const alone = new Map<string, Waiting[]>();
    for (const item of items)
      if (uncertainChats.has(item.chat)) alone.set(item.chat, [...(alone.get(item.chat) ?? []), item]);
    const calls = (together.length > 0 ? 1 : 0) + (items.length - together.length);
    if (calls > 1) {
      // The extra calls are requests too: taken from the portal's budget before any goes out.
      try {
        await limiter.acquire(route.portal.memberId, profileOf(route), calls - 1);
      } catch (error) {
        await failAll(route, items, error);
        return;
      }
    }
    await Promise.all([
      ...(together.length > 0 ? [send(route, together)] : []),
      ...[...alone.values()].map(async (chain) => {
        for (const item of chain) {
          // An earlier message of the conversation is to be retried: this one waits for it.
          if (heldBack.has(item.chat))
            item.reject(
              new RetryLaterError(`an earlier message of chat ${item.chat} is still to be delivered`),
            );
          else await send(route, [item]);
        }
      }),
    ]);
  }

  /**
   * The ids of `items` already in their Open Lines session: one `imopenlines.session.history.get` per
   * session (from the portal's budget). A failed look-up finds nothing: the message is sent again.
   */
  async function landedEarlier(route: Route, items: Waiting[]): Promise<Set<string>> {
    const found = new Set<string>();
    const bySession = new Map<string, LineSession>();
    for (const item of items) {
      const session = item.session ?? sessions.get(item.chat);
      if (session) bySession.set(`${session.CHAT_ID}:${session.ID}`, session);
    }
    for (const session of bySession.values()) {
      try {
        await limiter.acquire(route.portal.memberId, profileOf(route));
        const history = await bitrix.call<{ message?: Record<string, { params?: unknown }> }>(
          route.portal.memberId,
          "imopenlines.session.history.get",
          { CHAT_ID: session.CHAT_ID, SESSION_ID: session.ID },
        );
        for (const message of Object.values(history?.message ?? {})) {
          const mids = (message?.params as { connectorMid?: unknown } | null | undefined)?.connectorMid;
          if (Array.isArray(mids)) for (const mid of mids) found.add(String(mid));
        }
      } catch {
        // Not known to have landed: it goes again, alone.
      }
    }
    return found;
  }

  /** Bitrix24 has it: recording that (over any uncertain marker) is retried once if it fails. */
  async function recordDelivered(route: Route, item: Waiting, extra: Json = {}): Promise<void> {
    const detail = { session: item.session, line: route.lineId, attempt: item.attempt.number, ...extra };
    await conversations
      .markInboundDelivered(item.id, detail, item.place)
      .catch(() => conversations.markInboundDelivered(item.id, detail, item.place))
      .then(
        () => item.resolve("delivered"),
        (error: unknown) => item.reject(error),
      );
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
        for (const item of items) {
          // An earlier message of the conversation failed alone: this one must not overtake it.
          if (heldBack.has(item.chat))
            item.reject(
              new RetryLaterError(`an earlier message of chat ${item.chat} is still to be delivered`),
            );
          else await send(route, [item]);
        }
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
        const session = result.session as LineSession | undefined;
        if (session?.ID && session.CHAT_ID) {
          sessions.set(item.chat, { ID: String(session.ID), CHAT_ID: String(session.CHAT_ID) });
          item.session = session;
        }
        // A capped snippet of the text rides in the record written anyway, so a later reply or reaction
        // to this message can quote it (it expires with the record).
        const message = (item.payload.message ?? {}) as Json;
        const snippet = snippetOf(typeof message.text === "string" ? message.text : undefined);
        await recordDelivered(route, item, {
          ...(snippet ? { snippet } : {}),
          ...(typeof message.date === "number" ? { date: message.date } : {}),
        });
      }),
    );
  }

  /**
   * The whole call failed. Writing the uncertain markers and counting are best effort (a marker not
   * written only loses the look-up: the retry sends again, as before): each item is rejected whatever
   * happens here.
   */
  async function failAll(route: Route, items: Waiting[], error: unknown): Promise<void> {
    if (mayHaveLanded(error)) {
      // Bitrix24 may have taken the messages before the answer was lost: the only write before a retry,
      // so the retry looks for them in their session first.
      await Promise.all(
        items.map((item) =>
          conversations
            .markInboundUncertain(item.id, item.session ?? sessions.get(item.chat), item.place)
            .catch(() => undefined),
        ),
      );
      // Counted, and the portal's next calls stay small for a while.
      slowUntil.set(route.portal.memberId, clock.now().getTime() + SLOW_FOR_MS);
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
  function flushSafely(key: string, batch: Batch): void {
    if (batches.get(key) !== batch) return;
    if (batch.items.length < batchMaxFor(batch.route.portal.memberId)) {
      // While the line's previous call is out the batch stays open, so what arrives meanwhile shares
      // the next call.
      const inFlight = flushing.get(key);
      if (inFlight) {
        void inFlight.then(() => flushSafely(key, batch));
        return;
      }
      // A conversation whose next message the worker is still preparing: it may join this call (its
      // record hands off once queued); checked again then, or when the wait is over.
      const waitMs = batch.lastJoinedAt + FOLLOWER_WAIT_MS - Date.now();
      const follower =
        waitMs > 0 ? lastOfEachChat(batch.items).find((item) => item.followerPending) : undefined;
      if (follower?.attempt.nextQueued) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const waited = new Promise((resolve) => {
          timer = setTimeout(resolve, waitMs);
        });
        void Promise.race([follower.attempt.nextQueued, waited]).then(() => {
          clearTimeout(timer);
          flushSafely(key, batch);
        });
        return;
      }
    }
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
        const created: Batch = { route, items: [], lastJoinedAt: Date.now() };
        batches.set(key, created);
        setTimeout(() => flushSafely(key, created), BATCH_WINDOW_MS);
        batch = created;
      }
      const holdBack = (error: unknown) => {
        heldBack.add(chat);
        reject(error);
      };
      const item: Waiting = {
        id: message.id,
        chat,
        // Only a record that hands off lets its next one start before it is done: without, none joins.
        followerPending: attempt.nextQueued !== undefined && attempt.handOff !== undefined,
        payload,
        place: message.place,
        attempt,
        resolve,
        reject: holdBack,
      };
      void attempt.nextQueued?.then(() => {
        item.followerPending = false;
      });
      batch.items.push(item);
      batch.lastJoinedAt = Date.now();
      if (batch.items.length >= batchMaxFor(route.portal.memberId)) flushSafely(key, batch);
    });
    // Queued in order behind the conversation's earlier messages: its next record may start.
    attempt.handOff?.();
    return sent;
  };
}

/**
 * A call that failed after the request may have reached Bitrix24: no answer in time, or the connection
 * dropped (not refused: then nothing was sent).
 */
function mayHaveLanded(error: unknown): boolean {
  return (
    error instanceof BitrixApiError && error.httpStatus === 0 && !/ECONNREFUSED|ENOTFOUND/.test(error.message)
  );
}

/** Each conversation's latest message in the batch: the one its next message would follow. */
function lastOfEachChat(items: readonly Waiting[]): Waiting[] {
  const last = new Map<string, Waiting>();
  for (const item of items) last.set(item.chat, item);
  return [...last.values()];
}
