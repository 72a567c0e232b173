import { createHash } from "node:crypto";
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, SQSClient } from "@aws-sdk/client-sqs";
import { type ClaimWriter, checkIn } from "../../claim-check.ts";
import { toQueueBody } from "../../domain/queue-body.ts";

const MAX_BATCH = 10;
const ATTEMPTS = 3;

export interface FifoItem {
  readonly body: unknown;
  /** Messages of one group are delivered in order, one group at a time. */
  readonly groupId: string;
  /** The item's own identity: SQS drops a second item with the same key for five minutes. */
  readonly dedupKey: string;
}

/**
 * A FIFO queue: ten items per request, requests in order. Entries SQS refuses are sent again (twice
 * more) before the whole call fails, so a caller never acknowledges work that is not queued; the
 * deduplication id makes the caller's own retry harmless for what did get through.
 */
export class SqsFifoQueue {
  readonly #sqs: SQSClient;
  readonly #queueUrl: string;
  readonly #claims: ClaimWriter | undefined;

  /** `claims`: where bodies too large for SQS go (claim check); without it such a body is refused. */
  constructor(sqs: SQSClient, queueUrl: string, claims?: ClaimWriter) {
    this.#sqs = sqs;
    this.#queueUrl = queueUrl;
    this.#claims = claims;
  }

  async enqueue(items: readonly FifoItem[]): Promise<void> {
    const entries = await Promise.all(
      items.map(async (item, i) =>
        toEntry(item, i, await checkIn(toQueueBody(item.body), item.dedupKey, this.#claims)),
      ),
    );
    const batches: SendMessageBatchRequestEntry[][] = [];
    entries.forEach((entry, i) => {
      if (i % MAX_BATCH === 0) batches.push([]);
      batches[batches.length - 1]?.push(entry);
    });
    // One after another: two requests in flight could land a conversation's later messages first.
    for (const batch of batches) await this.#sendBatch(batch);
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
        throw new Error(`SQS refused ${pending.length} item(s): ${reasons}`);
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

function toEntry(item: FifoItem, index: number, body: string): SendMessageBatchRequestEntry {
  return {
    Id: String(index),
    MessageBody: body,
    MessageGroupId: boundedId(item.groupId),
    // Hashing keeps the id within SQS's 128 characters and allowed alphabet whatever the key looks like.
    MessageDeduplicationId: createHash("sha256").update(item.dedupKey).digest("hex"),
  };
}

function boundedId(id: string): string {
  const clean = id.replace(/[^\w!"#$%&'()*+,\-./:;<=>?@[\\\]^`{|}~]/g, "_");
  return clean.length <= 128 ? clean : createHash("sha256").update(id).digest("hex");
}
