import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { DynamoRateLimiter } from "#shared/adapters/dynamodb/rate-limiter.ts";
import { GraphClient } from "#shared/adapters/meta-graph/client.ts";
import { S3MediaStore } from "#shared/adapters/s3/media-store.ts";
import { makeSqsClient } from "#shared/adapters/sqs/fifo-queue.ts";
import { makeBitrixSide } from "#shared/bitrix-runtime.ts";
import type { InboundEvent } from "#shared/domain/inbound-event.ts";
import { makeLogger } from "#shared/logger.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { runQueueBatch } from "#shared/queue-worker.ts";
import { queueConsumedBy } from "#shared/resources.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { makeDeliverInbound } from "#shared/use-cases/deliver-inbound.ts";
import { makeRecordInboundEvent } from "#shared/use-cases/record-inbound-event.ts";

const logger = makeLogger("inbound-worker");
const MAX_MEDIA_BYTES = 100 * 1024 * 1024;

const deps = lazy(async () => {
  const runtime = await getRuntime();
  const { config } = runtime;
  // No waiting inside a call for Bitrix24's limits: the queue's backoff retries without holding a claim.
  const { bitrix } = makeBitrixSide(runtime, logger, []);
  return {
    worker: {
      queue: queueConsumedBy("inbound-worker"),
      sqs: makeSqsClient(),
      deadLetters: runtime.deadLetters,
      retry: { baseSeconds: config.RETRY_BASE_SECONDS, maxSeconds: config.RETRY_MAX_SECONDS },
      logger,
    },
    record: makeRecordInboundEvent({ store: runtime.store, clock: systemClock, logger }),
    deliver: makeDeliverInbound({
      store: runtime.store,
      bitrixStore: runtime.bitrixStore,
      conversations: runtime.conversations,
      metaStatus: runtime.metaStatus,
      bitrix,
      graph: new GraphClient({ baseUrl: config.GRAPH_API_BASE_URL, timeoutMs: config.HTTP_TIMEOUT_MS }),
      media: new S3MediaStore(config.MEDIA_BUCKET ?? ""),
      limiter: new DynamoRateLimiter(runtime.tableClient, systemClock),
      clock: systemClock,
      logger,
      options: {
        leaseMs: config.DELIVERY_LEASE_SECONDS * 1000,
        mediaUrlTtlSeconds: config.MEDIA_URL_TTL_SECONDS,
        maxMediaBytes: MAX_MEDIA_BYTES,
        statusMatchAttempts: 4,
      },
    }),
  };
});

/** Inbound FIFO queue consumer: each WhatsApp event recorded (audit), then delivered to Bitrix24. */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const d = await deps();
  return runQueueBatch(event, d.worker, async (body, attempt) => {
    const inbound = body as InboundEvent;
    await d.record(inbound);
    return d.deliver(inbound, attempt);
  });
}
