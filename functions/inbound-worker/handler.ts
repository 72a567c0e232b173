import { ChangeMessageVisibilityBatchCommand } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { DynamoRateLimiter } from "#shared/adapters/dynamodb/rate-limiter.ts";
import { GraphClient } from "#shared/adapters/meta-graph/client.ts";
import { S3MediaStore } from "#shared/adapters/s3/media-store.ts";
import { makeSqsClient } from "#shared/adapters/sqs/inbound-queue.ts";
import { makeBitrixSide } from "#shared/bitrix-runtime.ts";
import type { InboundEvent } from "#shared/domain/inbound-event.ts";
import { makeLogger } from "#shared/logger.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { queues } from "#shared/resources.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { processFifoBatch } from "#shared/sqs-batch.ts";
import { makeDeliverInbound } from "#shared/use-cases/deliver-inbound.ts";
import { makeRecordInboundEvent } from "#shared/use-cases/record-inbound-event.ts";

const logger = makeLogger("inbound-worker");
const queue = queues.find((q) => q.consumer === "inbound-worker") ?? queues[0];
const MAX_MEDIA_BYTES = 100 * 1024 * 1024;

const deps = lazy(async () => {
  const runtime = await getRuntime();
  const { config } = runtime;
  const { bitrix } = makeBitrixSide(runtime, logger, []);
  return {
    config,
    sqs: makeSqsClient(),
    deadLetters: runtime.deadLetters,
    record: makeRecordInboundEvent({ store: runtime.store, clock: systemClock, logger }),
    deliver: makeDeliverInbound({
      store: runtime.store,
      bitrixStore: runtime.bitrixStore,
      conversations: runtime.conversations,
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

const receiveCount = (r: SQSRecord) => Number(r.attributes.ApproximateReceiveCount ?? "1");

/**
 * Inbound FIFO queue consumer. Per record: record the event (audit), deliver it. A failure retrying can
 * fix is retried with backoff (the record's visibility is set to base × 2^(attempt−1) s, so one 503 costs
 * seconds, not the queue's full visibility timeout); one it cannot fix — or the last attempt — becomes a
 * dead letter with its reason, and the conversation moves on.
 */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const d = await deps();
  const maxReceives = queue?.maxReceiveCount ?? 5;
  const result = await processFifoBatch(
    event,
    async (record) => {
      const attempt = { number: receiveCount(record), last: receiveCount(record) >= maxReceives };
      let inbound: InboundEvent;
      try {
        inbound = JSON.parse(record.body) as InboundEvent;
      } catch {
        await giveUp(record, "the queue message is not JSON");
        return;
      }
      try {
        await d.record(inbound);
        const outcome = await d.deliver(inbound, attempt);
        logger.info("inbound delivered", { id: inbound.id, outcome, attempt: attempt.number });
      } catch (error) {
        const permanent = (error as { transient?: boolean }).transient === false;
        if (!permanent && !attempt.last) throw error;
        await giveUp(
          record,
          `${(error as Error).message}${permanent ? "" : ` (after ${attempt.number} attempts)`}`,
        );
      }
    },
    logger,
  );
  await backOff(event, result);
  return result;

  async function giveUp(record: SQSRecord, reason: string): Promise<void> {
    logger.error("inbound event dead-lettered", { messageId: record.messageId, reason });
    await d.deadLetters.record({
      id: record.messageId,
      queue: queue?.name ?? "inbound",
      body: record.body,
      messageGroupId: record.attributes.MessageGroupId,
      reason,
      attempts: receiveCount(record),
      failedAt: new Date().toISOString(),
      source: "worker",
    });
  }

  async function backOff(batch: SQSEvent, failures: SQSBatchResponse): Promise<void> {
    const failed = new Set(failures.batchItemFailures.map((f) => f.itemIdentifier));
    const url = process.env[queue?.urlEnv ?? "INBOUND_QUEUE_URL"];
    const entries = batch.Records.filter((r) => failed.has(r.messageId)).map((r, i) => ({
      Id: String(i),
      ReceiptHandle: r.receiptHandle,
      VisibilityTimeout: Math.round(
        Math.min(d.config.RETRY_MAX_SECONDS, d.config.RETRY_BASE_SECONDS * 2 ** (receiveCount(r) - 1)),
      ),
    }));
    if (!url || entries.length === 0) return;
    try {
      await d.sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: entries }));
    } catch (error) {
      // Without it the records come back after the queue's visibility timeout: later, not lost.
      logger.warn("could not set retry backoff", { error });
    }
  }
}
