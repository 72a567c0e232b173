import { ReceiveMessageCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DynamoDeadLetterStore } from "#shared/adapters/dynamodb/dead-letter-store.ts";
import { runQueueBatch } from "#shared/queue-worker.ts";
import { quietLogger, startWorkerQueue, toRecord, workerQueueDef } from "../support/worker-queue.ts";

/**
 * A batch that runs longer than the queue's visibility timeout keeps its records: the worker's heartbeat
 * keeps them invisible, so no second worker gets them while the first still works (against fauxqs).
 */
const VISIBILITY = 2;
const def = workerQueueDef("heartbeat", VISIBILITY);
let queue: Awaited<ReturnType<typeof startWorkerQueue>>;
let sqs: SQSClient;
let url: string;
// A real dead-letter store on DynamoDB Local: a record that ran out of time would land there.
let deadLetters: DynamoDeadLetterStore;

beforeAll(async () => {
  queue = await startWorkerQueue(def.urlEnv, def.visibilityTimeoutSeconds);
  ({ sqs, url, deadLetters } = queue);
});

afterAll(async () => {
  await queue?.stop();
});

describe("a queue batch's heartbeat", () => {
  it("keeps a record invisible for as long as its work runs, past the visibility timeout", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{"n":1}', MessageGroupId: "g" }));
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ["All"],
      }),
    );
    expect(received.Messages).toHaveLength(1);
    const seenMeanwhile: string[] = [];
    const result = await runQueueBatch(
      { Records: (received.Messages ?? []).map(toRecord) },
      {
        queue: def,
        sqs,
        deadLetters,
        retry: { baseSeconds: 1, maxSeconds: 1 },
        logger: quietLogger,
      },
      async () => {
        // Three visibility timeouts of work, looking for a second delivery all along.
        for (let i = 0; i < 3; i++) {
          const again = await sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: url,
              WaitTimeSeconds: VISIBILITY,
              MaxNumberOfMessages: 10,
            }),
          );
          for (const m of again.Messages ?? []) seenMeanwhile.push(m.Body ?? "");
        }
        return "done";
      },
    );
    expect(result.batchItemFailures).toEqual([]);
    expect(seenMeanwhile).toEqual([]);
    expect((await deadLetters.list()).items).toEqual([]);
  }, 30_000);

  it("does not work on a record another worker received after its visibility ran out (the event source invoked late)", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{"n":2}', MessageGroupId: "late" }));
    // Only this test's message (the first test's is left in the queue, as the event source would delete it).
    const receive = async () => {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: VISIBILITY + 1,
          MessageSystemAttributeNames: ["All"],
        }),
      );
      return { Messages: (out.Messages ?? []).filter((m) => m.Body === '{"n":2}') };
    };
    const first = await receive();
    expect(first.Messages).toHaveLength(1);
    // The batch waits past its visibility timeout before its invoke; meanwhile a second receive takes it.
    await new Promise((resolve) => setTimeout(resolve, (VISIBILITY + 0.5) * 1000));
    const second = await receive();
    expect(second.Messages?.map((m) => m.Body)).toEqual(['{"n":2}']);
    let worked = 0;
    const result = await runQueueBatch(
      { Records: (first.Messages ?? []).map(toRecord) },
      { queue: def, sqs, deadLetters, retry: { baseSeconds: 1, maxSeconds: 1 }, logger: quietLogger },
      async () => {
        worked++;
        return "done";
      },
      { getRemainingTimeInMillis: () => 1_000 },
    );
    expect(worked).toBe(0);
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([first.Messages?.[0]?.MessageId]);
  }, 30_000);
});
