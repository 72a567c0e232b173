import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { type ClaimStore, checkOut } from "./claim-check.ts";
import { type HoldEntry, waitingReason } from "./domain/conversation-hold.ts";
import type { Logger } from "./logger.ts";
import type { DeadLetterStore } from "./ports/dead-letters.ts";
import { type MetricName, type Metrics, metricNames } from "./ports/metrics.ts";
import { type HoldGate, HoldsInBatch, makeHoldGate, placeOf, type RecordPlace } from "./queue-holds.ts";
import { deadLetterLogMessage, type QueueDef } from "./resources.ts";
import { type HandOff, processFifoBatch } from "./sqs-batch.ts";
import type { Attempt } from "./use-cases/line-sender.ts";

export interface QueueWorkerDeps {
  readonly queue: QueueDef;
  readonly sqs: SQSClient;
  readonly deadLetters: DeadLetterStore;
  readonly retry: { readonly baseSeconds: number; readonly maxSeconds: number };
  readonly logger: Logger;
  readonly metrics?: WorkerMetrics;
  /** Where bodies too large for SQS were put (claim check). */
  readonly claims?: ClaimStore;
  /**
   * The queue's held conversations (shared/queue-holds.ts), kept by the caller across invocations;
   * without one the held list is read for every batch.
   */
  readonly holds?: HoldGate;
}

/** What a worker counts: each outcome `work` returns, retried failures and dead letters. */
export interface WorkerMetrics {
  readonly sink: Metrics;
  /** The metric each outcome counts; outcomes not listed count nothing. */
  readonly outcomes: Readonly<Record<string, MetricName>>;
  /** Counted when a record fails and goes back to be retried. */
  readonly failed: MetricName;
  /** The Bitrix24 portal a queue message belongs to, when the message says. */
  readonly portalOf?: (body: unknown) => string | undefined;
}

const receiveCount = (r: SQSRecord) => Number(r.attributes.ApproximateReceiveCount ?? "1");

/**
 * A FIFO queue consumer's batch: each record's body handed to `work` with its attempt number. A failure
 * retrying can fix is retried with backoff — the record's visibility becomes base × 2^(attempt−1) s,
 * capped, so one 503 costs seconds, not the queue's full visibility timeout. One it cannot fix, or the
 * last attempt, becomes a dead letter with its reason, and its conversation (message group) is held:
 * its later messages are not worked on but parked as dead letters behind it, until a redrive brings
 * them all back in order or an admin deletes the blocking one (shared/queue-holds.ts).
 */
export async function runQueueBatch(
  event: SQSEvent,
  deps: QueueWorkerDeps,
  work: (body: unknown, attempt: Attempt) => Promise<string>,
  context?: Pick<Context, "getRemainingTimeInMillis">,
): Promise<SQSBatchResponse> {
  const { queue, logger } = deps;
  const reserveMs = queue.stopTakingRecordsWithinSeconds * 1000;
  const outOfTime = () => (context ? context.getRemainingTimeInMillis() < reserveMs : false);
  if (!(await stillHeld(deps, event.Records, context))) {
    // Some record may be another worker's by now: none is touched; those still ours come back later.
    return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
  }
  const pending = new Set(event.Records);
  const [heartbeat, maxReceives] = await Promise.all([startHeartbeat(deps, pending), maxReceivesOf(deps)]);
  const holds = new HoldsInBatch(deps.holds ?? makeHoldGate(deps.deadLetters, queue.name, 0));
  /** Resolves true when the record became (or already was) a dead letter: it stays in flight till the end. */
  const runRecord = async (
    record: SQSRecord,
    order: Pick<Attempt, "handOff" | "previous" | "nextQueued">,
  ): Promise<boolean> => {
    const place = placeOf(record);
    if (place) {
      const decision = await holds.decide(place);
      if (!decision.pass) {
        if (!decision.alreadyLetter) await park(deps, holds, record, place, decision.behind);
        return true;
      }
    }
    const attempt: Attempt = {
      number: receiveCount(record),
      last: receiveCount(record) >= maxReceives,
      previous: order.previous,
      // A redriven message is done before the next of its conversation starts: sharing a send with them,
      // it could be refused alone while they are accepted — overtaken again. (Nor does its send wait for
      // the next one, which starts only once it is done.)
      ...(place?.redriven ? {} : { handOff: order.handOff, nextQueued: order.nextQueued }),
    };
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch {
      await giveUp(deps, holds, record, place, "the queue message is not JSON");
      return true;
    }
    // The last receive: should the worker not answer (a crash, a timeout), SQS moves the message to the
    // dead-letter queue and its conversation would go on without it. Held beforehand, the rest waits.
    const lastStand = place && attempt.last ? await holdLastAttempt(deps, record, place) : undefined;
    // A claim the store cannot hand back (yet) fails like any transient error: retried, then a dead letter.
    body = await checkOut(body, deps.claims);
    const portal = deps.metrics?.portalOf?.(body);
    try {
      const outcome = await work(body, attempt);
      logger.info(`${queue.name} record done`, {
        messageId: record.messageId,
        outcome,
        attempt: attempt.number,
      });
      const counted = deps.metrics?.outcomes[outcome];
      if (counted) deps.metrics?.sink.count(counted, 1, { portal });
    } catch (error) {
      // An earlier record of its conversation gave up while this one was under way (handed off behind
      // it): it waits behind that one, whatever its own failure was.
      const earlier = place && holds.heldHere(place.group);
      if (place && earlier && earlier.letterId !== place.letterId) {
        await park(deps, holds, record, place, earlier);
        return true;
      }
      const permanent = (error as { transient?: boolean }).transient === false;
      if (!permanent && !attempt.last) {
        if (deps.metrics) deps.metrics.sink.count(deps.metrics.failed, 1, { portal });
        throw error;
      }
      await giveUp(
        deps,
        holds,
        record,
        place,
        `${(error as Error).message}${permanent ? "" : ` (after ${attempt.number} attempts)`}`,
        portal,
      );
      return true;
    }
    if (lastStand) await deps.deadLetters.discard(lastStand);
    // A redriven message is through: its place in the hold is given up, so the ones behind it may go.
    if (place) await holds.done(place);
    return false;
  };
  const lettered = new Set<SQSRecord>();
  const result = await processFifoBatch(
    event,
    async (record, handOff: HandOff, previous, nextQueued) => {
      // Delivered: done with. A failed one stays invisible until its backoff is set below; a dead letter
      // until the batch is settled.
      if (await runRecord(record, { handOff, previous, nextQueued })) lettered.add(record);
      else pending.delete(record);
    },
    logger,
    outOfTime,
  )
    .then(async (r) => {
      const left = await holds.settle(
        context ? context.getRemainingTimeInMillis() - SETTLE_MARGIN_MS : undefined,
      );
      if (left === 0) return r;
      // Too little time to wait here: the dead letters go back to the queue instead, invisible for the
      // rest of the wait, which keeps their conversations from anyone. Received again, each is known to
      // be a dead letter already and is done with.
      const failed = new Set(r.batchItemFailures.map((f) => f.itemIdentifier));
      for (const record of lettered) failed.add(record.messageId);
      await handBack(deps, [...lettered], Math.ceil(left / 1000));
      return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
    })
    .finally(() => heartbeat.stop());
  await backOff(deps, event, result, new Set(lettered));
  return result;
}

/** Room kept after a hold's wait for the batch's answer to reach the event source. */
const SETTLE_MARGIN_MS = 2000;

async function handBack(deps: QueueWorkerDeps, records: SQSRecord[], seconds: number): Promise<void> {
  const url = process.env[deps.queue.urlEnv];
  if (!url || records.length === 0) return;
  await deps.sqs
    .send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: records.map((r, i) => ({
          Id: String(i),
          ReceiptHandle: r.receiptHandle,
          VisibilityTimeout: seconds,
        })),
      }),
    )
    .catch((error) => {
      // They stay invisible for the queue's visibility timeout then: longer than the wait.
      deps.logger.warn("could not hand dead letters back to the queue", { error });
    });
}

/**
 * What the worker takes from its queue's own attributes, read in one request per cold start: the
 * visibility timeout (the local stack's test queues use a few seconds) and the receives after which
 * SQS moves a message to the dead-letter queue (redrive policy) — the worker's last attempt is the one
 * before that, whatever the queue was given. Either falls back to the queue's definition.
 */
interface QueueSettings {
  readonly visibilitySeconds?: number;
  readonly maxReceives?: number;
}

const settingsByUrl = new Map<string, Promise<QueueSettings>>();

function queueSettingsOf(deps: QueueWorkerDeps, url: string): Promise<QueueSettings> {
  let settings = settingsByUrl.get(url);
  if (!settings) {
    settings = deps.sqs
      .send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ["VisibilityTimeout", "RedrivePolicy"],
        }),
      )
      .then((out) => ({
        visibilitySeconds: Number(out.Attributes?.VisibilityTimeout) || undefined,
        maxReceives: maxReceiveCountIn(out.Attributes?.RedrivePolicy),
      }))
      .catch(() => ({}));
    settingsByUrl.set(url, settings);
  }
  return settings;
}

function maxReceiveCountIn(redrivePolicy: string | undefined): number | undefined {
  try {
    return (
      Number((JSON.parse(redrivePolicy ?? "{}") as { maxReceiveCount?: unknown }).maxReceiveCount) ||
      undefined
    );
  } catch {
    return undefined;
  }
}

async function maxReceivesOf(deps: QueueWorkerDeps): Promise<number> {
  const url = process.env[deps.queue.urlEnv];
  const settings = url ? await queueSettingsOf(deps, url) : {};
  return settings.maxReceives ?? deps.queue.maxReceiveCount;
}

/**
 * While a batch runs, its unfinished records stay invisible: every third of the queue's visibility
 * timeout they get a full one again. So the timeout can be short — a crashed worker's messages come back
 * within it — without a long batch being handed to a second worker while the first still works on it
 * (which would send twice, or report a status after a later one).
 */
async function startHeartbeat(deps: QueueWorkerDeps, pending: Set<SQSRecord>): Promise<{ stop(): void }> {
  const url = process.env[deps.queue.urlEnv];
  if (!url) return { stop: () => undefined };
  const seconds = await visibilitySecondsOf(deps, url);
  const timer = setInterval(
    () => {
      const entries = [...pending].map((r, i) => ({
        Id: String(i),
        ReceiptHandle: r.receiptHandle,
        VisibilityTimeout: seconds,
      }));
      if (entries.length === 0) return;
      deps.sqs
        .send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: entries }))
        .catch((error) => {
          deps.logger.warn("could not extend the batch's visibility", { error });
        });
    },
    Math.max(1, seconds / 3) * 1000,
  );
  return { stop: () => clearInterval(timer) };
}

async function visibilitySecondsOf(deps: QueueWorkerDeps, url: string): Promise<number> {
  return (await queueSettingsOf(deps, url)).visibilitySeconds ?? deps.queue.visibilityTimeoutSeconds;
}

/** Slack for clocks and for the time between SQS stamping a receive and this batch starting. */
const HELD_MARGIN_MS = 5_000;

/**
 * Whether every record is this invocation's for as long as it can run, so that no second worker gets
 * one while this one works on it (which would send a message twice). A record stays invisible for the
 * queue's visibility timeout from its receive; the function's timeout is shorter (checked at synth), so
 * a record received just now is ours until this invocation has ended. But the event source may invoke
 * late (it retries a throttled invoke with the batch it holds, which is why AWS suggests six times the
 * timeout), and a record received again carries no time of that receive: such records are made
 * invisible for a full timeout again at once. SQS refuses that for a FIFO receipt handle whose
 * visibility has run out (another receive may hold the message now): then the batch is not worked on.
 * In steady state (first receives, invoked at once) this costs no request.
 * Sources: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html (six times the
 * timeout, for retries of a throttled invoke); ApproximateFirstReceiveTimestamp in
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html; an
 * expired receipt handle is refused, older handles may only work on standard queues:
 * https://repost.aws/knowledge-center/sqs-receipt-handle-error
 */
async function stillHeld(
  deps: QueueWorkerDeps,
  records: readonly SQSRecord[],
  context: Pick<Context, "getRemainingTimeInMillis"> | undefined,
): Promise<boolean> {
  const url = process.env[deps.queue.urlEnv];
  if (!url || records.length === 0) return true;
  const seconds = await visibilitySecondsOf(deps, url);
  const runsUntil = Date.now() + (context?.getRemainingTimeInMillis() ?? Number.POSITIVE_INFINITY);
  const unsure = records.filter(
    (r) =>
      receiveCount(r) > 1 ||
      !(Number(r.attributes.ApproximateFirstReceiveTimestamp) + seconds * 1000 >= runsUntil + HELD_MARGIN_MS),
  );
  if (unsure.length === 0) return true;
  const extend = () =>
    deps.sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: unsure.map((r, i) => ({
          Id: String(i),
          ReceiptHandle: r.receiptHandle,
          VisibilityTimeout: seconds,
        })),
      }),
    );
  try {
    // Asked twice if the request itself fails: a batch on its last receive that is not worked on goes
    // to the dead-letter queue without its conversation being held.
    const out = await extend().catch(extend);
    if ((out.Failed ?? []).length === 0) return true;
    deps.logger.warn("batch records may be another worker's now: not worked on", {
      failed: out.Failed?.map((f) => f.Code),
    });
  } catch (error) {
    deps.logger.warn("could not confirm the batch is still ours: not worked on", { error });
  }
  return false;
}

async function giveUp(
  deps: QueueWorkerDeps,
  holds: HoldsInBatch,
  record: SQSRecord,
  place: RecordPlace | undefined,
  reason: string,
  portal?: string,
): Promise<void> {
  deps.logger.error(deadLetterLogMessage(deps.queue.name), { messageId: record.messageId, reason });
  deps.metrics?.sink.count(metricNames.deadLettered, 1, { portal });
  const letter = {
    id: place?.letterId ?? record.messageId,
    queue: deps.queue.name,
    body: record.body,
    messageGroupId: record.attributes.MessageGroupId,
    reason,
    attempts: receiveCount(record),
    failedAt: new Date().toISOString(),
    source: "worker" as const,
  };
  if (!place) {
    await deps.deadLetters.record(letter);
    return;
  }
  await deps.deadLetters.hold({ ...letter, messageGroupId: place.group, orderKey: place.orderKey });
  await holds.held(place, { gaveUp: true });
}

/**
 * Holds the conversation behind a record on its last receive, before the work: a worker that dies on
 * it leaves it to SQS's dead-letter queue, and the drain then finds this letter (same id) in its place.
 * Done with, it is discarded; given up, its letter is written again with the reason.
 */
async function holdLastAttempt(deps: QueueWorkerDeps, record: SQSRecord, place: RecordPlace) {
  const letter = {
    id: place.letterId,
    queue: deps.queue.name,
    body: record.body,
    messageGroupId: place.group,
    orderKey: place.orderKey,
    reason: "its last attempt did not finish (the worker crashed or timed out)",
    attempts: receiveCount(record),
    failedAt: new Date().toISOString(),
    source: "worker" as const,
  };
  await deps.deadLetters.hold(letter);
  return letter;
}

/** A record of a held conversation: kept as a dead letter behind the one it waits for, not worked on. */
async function park(
  deps: QueueWorkerDeps,
  holds: HoldsInBatch,
  record: SQSRecord,
  place: RecordPlace,
  behind: Pick<HoldEntry, "letterId">,
): Promise<void> {
  deps.logger.warn(`${deps.queue.name} record waits behind a dead letter of its conversation`, {
    messageId: record.messageId,
    waitingBehind: behind.letterId,
  });
  await deps.deadLetters.hold({
    id: place.letterId,
    queue: deps.queue.name,
    body: record.body,
    messageGroupId: place.group,
    orderKey: place.orderKey,
    reason: waitingReason(behind),
    waitingBehind: behind.letterId,
    attempts: receiveCount(record),
    failedAt: new Date().toISOString(),
    source: "worker",
  });
  await holds.held(place, { gaveUp: false });
}

async function backOff(
  deps: QueueWorkerDeps,
  batch: SQSEvent,
  failures: SQSBatchResponse,
  /** Handed back with their own visibility: no backoff for them. */
  handedBack: ReadonlySet<SQSRecord>,
): Promise<void> {
  const failed = new Set(
    failures.batchItemFailures
      .map((f) => f.itemIdentifier)
      .filter((id) => ![...handedBack].some((r) => r.messageId === id)),
  );
  const url = process.env[deps.queue.urlEnv];
  const { baseSeconds, maxSeconds } = deps.retry;
  const entries = batch.Records.filter((r) => failed.has(r.messageId)).map((r, i) => ({
    Id: String(i),
    ReceiptHandle: r.receiptHandle,
    VisibilityTimeout: Math.round(Math.min(maxSeconds, baseSeconds * 2 ** (receiveCount(r) - 1))),
  }));
  if (!url || entries.length === 0) return;
  try {
    await deps.sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: entries }));
  } catch (error) {
    // Without it the records come back after the queue's visibility timeout: later, not lost.
    deps.logger.warn("could not set retry backoff", { error });
  }
}
