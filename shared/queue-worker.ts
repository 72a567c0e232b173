import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { type ClaimStore, checkOut } from "./claim-check.ts";
import type { Logger } from "./logger.ts";
import type { DeadLetterStore } from "./ports/dead-letters.ts";
import { type MetricName, type Metrics, metricNames } from "./ports/metrics.ts";
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
 * last attempt, becomes a dead letter with its reason, and the conversation moves on.
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
  const pending = new Set(event.Records);
  const heartbeat = await startHeartbeat(deps, pending);
  const runRecord = async (
    record: SQSRecord,
    order: Pick<Attempt, "handOff" | "previous" | "nextQueued">,
  ): Promise<void> => {
    const attempt: Attempt = {
      number: receiveCount(record),
      last: receiveCount(record) >= queue.maxReceiveCount,
      ...order,
    };
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch {
      await giveUp(deps, record, "the queue message is not JSON");
      return;
    }
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
      const permanent = (error as { transient?: boolean }).transient === false;
      if (!permanent && !attempt.last) {
        if (deps.metrics) deps.metrics.sink.count(deps.metrics.failed, 1, { portal });
        throw error;
      }
      await giveUp(
        deps,
        record,
        `${(error as Error).message}${permanent ? "" : ` (after ${attempt.number} attempts)`}`,
        portal,
      );
    }
  };
  const result = await processFifoBatch(
    event,
    async (record, handOff: HandOff, previous, nextQueued) => {
      await runRecord(record, { handOff, previous, nextQueued });
      // Done with (delivered or given up). A failed one stays invisible until its backoff is set below.
      pending.delete(record);
    },
    logger,
    outOfTime,
  ).finally(() => heartbeat.stop());
  await backOff(deps, event, result);
  return result;
}

/** The queue's visibility timeout, read once per cold start (the local stack's test queues use 5 s). */
const visibilityOf = new Map<string, Promise<number | undefined>>();

/**
 * While a batch runs, its unfinished records stay invisible: every third of the queue's visibility
 * timeout they get a full one again. So the timeout can be short — a crashed worker's messages come back
 * within it — without a long batch being handed to a second worker while the first still works on it
 * (which would send twice, or report a status after a later one).
 */
async function startHeartbeat(deps: QueueWorkerDeps, pending: Set<SQSRecord>): Promise<{ stop(): void }> {
  const url = process.env[deps.queue.urlEnv];
  if (!url) return { stop: () => undefined };
  let visibility = visibilityOf.get(url);
  if (!visibility) {
    visibility = deps.sqs
      .send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["VisibilityTimeout"] }))
      .then((out) => Number(out.Attributes?.VisibilityTimeout) || undefined)
      .catch(() => undefined);
    visibilityOf.set(url, visibility);
  }
  const seconds = (await visibility) ?? deps.queue.visibilityTimeoutSeconds;
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

async function giveUp(
  deps: QueueWorkerDeps,
  record: SQSRecord,
  reason: string,
  portal?: string,
): Promise<void> {
  deps.logger.error(deadLetterLogMessage(deps.queue.name), { messageId: record.messageId, reason });
  deps.metrics?.sink.count(metricNames.deadLettered, 1, { portal });
  await deps.deadLetters.record({
    id: record.messageId,
    queue: deps.queue.name,
    body: record.body,
    messageGroupId: record.attributes.MessageGroupId,
    reason,
    attempts: receiveCount(record),
    failedAt: new Date().toISOString(),
    source: "worker",
  });
}

async function backOff(deps: QueueWorkerDeps, batch: SQSEvent, failures: SQSBatchResponse): Promise<void> {
  const failed = new Set(failures.batchItemFailures.map((f) => f.itemIdentifier));
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
