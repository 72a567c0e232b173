import { createHash } from "node:crypto";
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, SQSClient } from "@aws-sdk/client-sqs";
import type { InboundEvent } from "../../domain/inbound-event.ts";
import { toQueueBody } from "../../domain/queue-body.ts";
import { messageGroupOf } from "../../domain/split-webhook.ts";
import type { InboundQueue } from "../../ports/queue.ts";

const MAX_BATCH = 10;
const ATTEMPTS = 3;

/**
 * Sends events to the inbound FIFO queue, ten per request, all batches at once. Entries SQS refuses are
 * sent again (twice more) before the whole call fails — then the webhook answers 5xx and Meta redelivers;
 * the FIFO deduplication id makes the redelivery harmless for what did get through.
 */
export class SqsInboundQueue implements InboundQueue {
  readonly #sqs: SQSClient;
  readonly #queueUrl: string;

  constructor(sqs: SQSClient, queueUrl: string) {
    this.#sqs = sqs;
    this.#queueUrl = queueUrl;
  }

  async enqueue(events: readonly InboundEvent[]): Promise<void> {
    const batches: SendMessageBatchRequestEntry[][] = [];
    events.forEach((event, i) => {
      if (i % MAX_BATCH === 0) batches.push([]);
      batches[batches.length - 1]?.push(toEntry(event, i));
    });
    await Promise.all(batches.map((batch) => this.#sendBatch(batch)));
  }

  async #sendBatch(entries: SendMessageBatchRequestEntry[]): Promise<void> {
    let pending = entries;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const out = await this.#sqs.send(
        new SendMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: pending }),
      );
      const failed = new Set((out.Failed ?? []).map((f) => f.Id));
      pending = pending.filter((e) => failed.has(e.Id));
      if (pending.length > 0 && attempt >= ATTEMPTS) {
        const reasons = (out.Failed ?? []).map((f) => `${f.Code}: ${f.Message}`).join("; ");
        throw new Error(`SQS refused ${pending.length} event(s): ${reasons}`);
      }
    }
  }
}

/**
 * With an explicit endpoint (the local emulator) the client must not switch to the queue URL's host,
 * which the emulator names `sqs.<region>.localhost`.
 */
export function makeSqsClient(): SQSClient {
  const endpoint = process.env.AWS_ENDPOINT_URL_SQS;
  return new SQSClient(endpoint ? { endpoint, useQueueUrlAsEndpoint: false } : {});
}

function toEntry(event: InboundEvent, index: number): SendMessageBatchRequestEntry {
  return {
    Id: String(index),
    MessageBody: toQueueBody(event),
    MessageGroupId: boundedId(messageGroupOf(event)),
    // Hashing keeps the id within SQS's 128 characters and allowed alphabet whatever Meta's ids look like.
    MessageDeduplicationId: createHash("sha256").update(event.id).digest("hex"),
  };
}

function boundedId(id: string): string {
  const clean = id.replace(/[^\w!"#$%&'()*+,\-./:;<=>?@[\\\]^`{|}~]/g, "_");
  return clean.length <= 128 ? clean : createHash("sha256").update(id).digest("hex");
}
