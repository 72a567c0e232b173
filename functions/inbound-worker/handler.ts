import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { DynamoRateLimiter, WORKER_TOKEN_RESERVE } from "#shared/adapters/dynamodb/rate-limiter.ts";
import { makeEmfMetrics } from "#shared/adapters/emf-metrics.ts";
import { GraphClient } from "#shared/adapters/meta-graph/client.ts";
import { S3ClaimStore } from "#shared/adapters/s3/claim-store.ts";
import { S3MediaStore } from "#shared/adapters/s3/media-store.ts";
import { makeSafeFetch } from "#shared/adapters/safe-fetch.ts";
import { makeSqsClient } from "#shared/adapters/sqs/fifo-queue.ts";
import { makeBitrixSide } from "#shared/bitrix-runtime.ts";
import { allowsLoopbackUrls } from "#shared/config.ts";
import type { InboundEvent } from "#shared/domain/inbound-event.ts";
import { makeLogger, withRequestId } from "#shared/logger.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { metricNames } from "#shared/ports/metrics.ts";
import { makeHoldGate } from "#shared/queue-holds.ts";
import { runQueueBatch } from "#shared/queue-worker.ts";
import { queueConsumedBy } from "#shared/resources.ts";
import { forQueueWorker, getRuntime, lazy } from "#shared/runtime.ts";
import { makeDeliverInbound } from "#shared/use-cases/deliver-inbound.ts";
import { makeRecordInboundEvent } from "#shared/use-cases/record-inbound-event.ts";

const logger = makeLogger("inbound-worker");
const metrics = makeEmfMetrics("inbound-worker");
const MAX_MEDIA_BYTES = 100 * 1024 * 1024;

const deps = lazy(async () => {
  const runtime = forQueueWorker(await getRuntime());
  const { config } = runtime;
  // No waiting inside a call for Bitrix24's limits: the queue's backoff retries the record later.
  const { bitrix } = makeBitrixSide(runtime, logger, [], metrics);
  return {
    worker: {
      queue: queueConsumedBy("inbound-worker"),
      sqs: makeSqsClient(),
      deadLetters: runtime.deadLetters,
      holds: makeHoldGate(
        runtime.deadLetters,
        queueConsumedBy("inbound-worker").name,
        config.HELD_CONVERSATIONS_CACHE_SECONDS,
      ),
      retry: { baseSeconds: config.RETRY_BASE_SECONDS, maxSeconds: config.RETRY_MAX_SECONDS },
      logger,
      // The portal is known only once the event is routed, so inbound counts are per function.
      claims: config.MEDIA_BUCKET ? new S3ClaimStore(config.MEDIA_BUCKET) : undefined,
      metrics: {
        sink: metrics,
        outcomes: { delivered: metricNames.inboundDelivered, duplicate: metricNames.inboundDuplicate },
        failed: metricNames.inboundFailed,
      },
    },
    record: makeRecordInboundEvent({ store: runtime.store, clock: systemClock, logger }),
    deliver: makeDeliverInbound({
      store: runtime.store,
      bitrixStore: runtime.bitrixStore,
      conversations: runtime.conversations,
      customers: runtime.customers,
      accountEvents: runtime.accountEvents,
      history: runtime.history,
      bitrix,
      graph: new GraphClient({
        baseUrl: config.GRAPH_API_BASE_URL,
        timeoutMs: config.HTTP_TIMEOUT_MS,
        fromOutside: makeSafeFetch({ allowLoopback: allowsLoopbackUrls(config) }),
      }),
      media: new S3MediaStore(config.MEDIA_BUCKET ?? ""),
      limiter: new DynamoRateLimiter(runtime.tableClient, systemClock, {
        metrics,
        reserve: WORKER_TOKEN_RESERVE,
      }),
      clock: systemClock,
      logger,
      metrics,
      options: {
        mediaUrlTtlSeconds: config.MEDIA_URL_TTL_SECONDS,
        maxMediaBytes: MAX_MEDIA_BYTES,
        statusMatchAttempts: 4,
      },
    }),
  };
});

/**
 * Events that reach nobody else are kept for a while: account updates, events for numbers not
 * connected here, and events given up on. A delivered message is in the open line, and a status in its sent message's record,
 * so writing those down again would only add a write per event.
 */
const KEPT_OUTCOMES = new Set(["recorded", "unrouted"]);

/** Inbound FIFO queue consumer: each WhatsApp event delivered to Bitrix24, or recorded if it has nowhere to go. */
async function handle(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
  const d = await deps();
  return runQueueBatch(
    event,
    d.worker,
    async (body, attempt) => {
      const inbound = body as InboundEvent;
      let outcome: string;
      try {
        outcome = await d.deliver(inbound, attempt);
      } catch (error) {
        // An event on its way to the dead letters did not reach Bitrix24 either: it is kept too.
        if ((error as { transient?: boolean }).transient === false || attempt.last) await d.record(inbound);
        throw error;
      }
      if (KEPT_OUTCOMES.has(outcome)) await d.record(inbound);
      return outcome;
    },
    context,
  );
}

export const handler = withRequestId(handle);
