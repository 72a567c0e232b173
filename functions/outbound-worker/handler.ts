import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { DynamoRateLimiter, WORKER_TOKEN_RESERVE } from "#shared/adapters/dynamodb/rate-limiter.ts";
import { makeEmfMetrics } from "#shared/adapters/emf-metrics.ts";
import { GraphClient } from "#shared/adapters/meta-graph/client.ts";
import { makeSafeFetch } from "#shared/adapters/safe-fetch.ts";
import { makeSqsClient } from "#shared/adapters/sqs/fifo-queue.ts";
import { makeBitrixSide } from "#shared/bitrix-runtime.ts";
import { allowsLoopbackUrls } from "#shared/config.ts";
import type { QueueJob } from "#shared/domain/outbound-job.ts";
import { makeLogger, withRequestId } from "#shared/logger.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { metricNames } from "#shared/ports/metrics.ts";
import { makeHoldGate } from "#shared/queue-holds.ts";
import { runQueueBatch } from "#shared/queue-worker.ts";
import { queueConsumedBy } from "#shared/resources.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { makeSendOperatorMessage } from "#shared/use-cases/send-operator-message.ts";
import { makeTemplateCatalog } from "#shared/use-cases/template-catalog.ts";

const logger = makeLogger("outbound-worker");
const metrics = makeEmfMetrics("outbound-worker");

const deps = lazy(async () => {
  // Not the cached phones of forQueueWorker: a reply applies the number's settings (read receipts,
  // typing indicator) as they are now.
  const runtime = await getRuntime();
  const { config } = runtime;
  const { bitrix } = makeBitrixSide(runtime, logger, [], metrics);
  const fromOutside = makeSafeFetch({ allowLoopback: allowsLoopbackUrls(config) });
  const graph = new GraphClient({
    baseUrl: config.GRAPH_API_BASE_URL,
    timeoutMs: config.HTTP_TIMEOUT_MS,
    fromOutside,
  });
  return {
    worker: {
      queue: queueConsumedBy("outbound-worker"),
      sqs: makeSqsClient(),
      deadLetters: runtime.deadLetters,
      holds: makeHoldGate(
        runtime.deadLetters,
        queueConsumedBy("outbound-worker").name,
        config.HELD_CONVERSATIONS_CACHE_SECONDS,
      ),
      retry: { baseSeconds: config.RETRY_BASE_SECONDS, maxSeconds: config.RETRY_MAX_SECONDS },
      logger,
      metrics: {
        sink: metrics,
        // "noted": not sent, and the operator was told why in the chat; "failed": an SMS Bitrix24 hears failed.
        outcomes: {
          sent: metricNames.outboundSent,
          noted: metricNames.outboundFailed,
          failed: metricNames.outboundFailed,
        },
        failed: metricNames.outboundFailed,
        portalOf: (body: unknown) => (body as Partial<QueueJob>).memberId,
      },
    },
    send: makeSendOperatorMessage({
      store: runtime.store,
      bitrixStore: runtime.bitrixStore,
      conversations: runtime.conversations,
      customers: runtime.customers,
      bitrix,
      graph,
      templates: makeTemplateCatalog({
        store: runtime.store,
        cache: runtime.conversations,
        graph,
        clock: systemClock,
      }),
      limiter: new DynamoRateLimiter(runtime.tableClient, systemClock, {
        metrics,
        reserve: WORKER_TOKEN_RESERVE,
      }),
      clock: systemClock,
      logger,
      metrics,
      fetchFromOutside: fromOutside,
      options: {
        leaseMs: config.DELIVERY_LEASE_SECONDS * 1000,
        timeoutMs: config.HTTP_TIMEOUT_MS,
      },
    }),
  };
});

/** Outbound FIFO queue consumer: operators' messages and CRM SMS from Bitrix24 to WhatsApp. */
async function handle(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
  const d = await deps();
  return runQueueBatch(
    event,
    d.worker,
    (body, { handOff: _noteQueued, ...attempt }) => {
      // A conversation's next message waits until this one is done: a note to the operator queued for
      // Bitrix24 is no hand-off, since this message may still fail for good after it and be overtaken.
      const job = body as QueueJob;
      return job.kind === "sms" ? d.send.sendSms(job, attempt) : d.send.sendOperatorMessage(job, attempt);
    },
    context,
  );
}

export const handler = withRequestId(handle);
