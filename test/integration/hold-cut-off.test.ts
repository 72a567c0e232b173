import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DynamoDeadLetterStore } from "#shared/adapters/dynamodb/dead-letter-store.ts";
import { makeHoldGate } from "#shared/queue-holds.ts";
import { runQueueBatch } from "#shared/queue-worker.ts";
import { PermanentDeliveryError } from "#shared/use-cases/line-sender.ts";
import { eventually } from "../support/stack.ts";
import { quietLogger, startWorkerQueue, toRecord, workerQueueDef } from "../support/worker-queue.ts";

/**
 * A worker whose batch is cut off (a timeout, a crash) after it recorded a dead letter gets that message
 * again: it must know it for the dead letter it already is, not park it behind itself. And a worker with
 * too little time left to keep a held conversation in flight hands its dead letters back to the queue,
 * invisible for the rest of the wait (against fauxqs and DynamoDB Local).
 */
let queue: Awaited<ReturnType<typeof startWorkerQueue>>;
let sqs: typeof queue.sqs;
let url: string;
let deadLetters: DynamoDeadLetterStore;
const def = workerQueueDef("cutoff", 30);

beforeAll(async () => {
  queue = await startWorkerQueue(def.urlEnv, def.visibilityTimeoutSeconds);
  ({ sqs, url, deadLetters } = queue);
});

afterAll(async () => {
  await queue?.stop();
});

async function receive(): Promise<SQSRecord[]> {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      MessageSystemAttributeNames: ["All"],
    }),
  );
  return (out.Messages ?? []).map(toRecord);
}

const deps = (cacheSeconds: number) => ({
  queue: def,
  sqs,
  deadLetters,
  retry: { baseSeconds: 1, maxSeconds: 1 },
  logger: quietLogger,
  holds: makeHoldGate(deadLetters, def.name, cacheSeconds),
});

const refuse = async () => {
  throw new PermanentDeliveryError("refused for good");
};

describe("a held conversation's dead letter met again", () => {
  it("is done with when its batch was cut off after recording it, not parked behind itself", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{"n":1}', MessageGroupId: "g1" }));
    const records = await receive();
    expect(records).toHaveLength(1);
    expect((await runQueueBatch({ Records: records }, deps(0), refuse)).batchItemFailures).toEqual([]);
    const [letter] = (await deadLetters.list()).items.filter((l) => l.messageGroupId === "g1");
    expect(letter).toMatchObject({ id: records[0]?.messageId, reason: "refused for good" });

    // The same message again, as after a cut-off batch: nothing is worked on, nothing new recorded.
    let worked = 0;
    const again = await runQueueBatch({ Records: records }, deps(0), async () => {
      worked++;
      return "delivered";
    });
    expect(again.batchItemFailures).toEqual([]);
    expect(worked).toBe(0);
    expect((await deadLetters.list()).items.filter((l) => l.messageGroupId === "g1")).toEqual([letter]);
  });

  it("knows a redriven message that failed again and was recorded from one a redrive is sending back", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{"n":3}', MessageGroupId: "g3" }));
    const [record] = await receive();
    if (!record) throw new Error("nothing received");
    const redriven = (r: SQSRecord): SQSRecord => ({
      ...r,
      messageAttributes: {
        deadLetterOrderKey: {
          dataType: "String",
          stringValue: "7",
          stringListValues: [],
          binaryListValues: [],
        },
        deadLetterId: {
          dataType: "String",
          stringValue: "letter-g3",
          stringListValues: [],
          binaryListValues: [],
        },
      },
    });
    const letter = {
      id: "letter-g3",
      queue: def.name,
      body: record.body,
      messageGroupId: "g3",
      orderKey: "7",
      reason: "refused for good",
      attempts: 1,
      failedAt: new Date().toISOString(),
      source: "worker" as const,
    };
    await deadLetters.hold(letter);
    let worked = 0;
    const work = async () => {
      worked++;
      return "delivered";
    };
    // Recorded again after its redrive (and not being sent back): this is that copy, done with.
    expect((await runQueueBatch({ Records: [redriven(record)] }, deps(0), work)).batchItemFailures).toEqual(
      [],
    );
    expect(worked).toBe(0);
    // Being sent back by a redrive: worked on, and its place in the hold given up.
    expect(await deadLetters.markRedriving("letter-g3")).toBe(true);
    expect((await runQueueBatch({ Records: [redriven(record)] }, deps(0), work)).batchItemFailures).toEqual(
      [],
    );
    expect(worked).toBe(1);
    expect(await deadLetters.holdOf(def.name, "g3")).toEqual(new Set());
  });

  it("holds the conversation behind a message on its last receive while it is worked on, in case the worker dies", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{"n":4}', MessageGroupId: "g4" }));
    const [record] = await receive();
    if (!record) throw new Error("nothing received");
    const last = {
      ...record,
      attributes: { ...record.attributes, ApproximateReceiveCount: String(def.maxReceiveCount) },
    };
    let during: { letter: unknown; hold: Set<string>; listed: boolean } | undefined;
    const result = await runQueueBatch({ Records: [last] }, deps(0), async () => {
      // Were the worker to die here, SQS would move the message to the dead-letter queue: its letter and
      // the conversation's hold are already there.
      during = {
        letter: await deadLetters.get(record.messageId),
        hold: await deadLetters.holdOf(def.name, "g4"),
        listed: (await deadLetters.heldGroups(def.name)).has("g4"),
      };
      return "delivered";
    });
    expect(result.batchItemFailures).toEqual([]);
    expect(during?.letter).toMatchObject({ reason: expect.stringMatching(/last attempt did not finish/) });
    expect(during?.hold.size).toBe(1);
    expect(during?.listed).toBe(true);
    // Done with: nothing of it is left.
    expect(await deadLetters.get(record.messageId)).toBeUndefined();
    expect(await deadLetters.holdOf(def.name, "g4")).toEqual(new Set());
    expect((await deadLetters.heldGroups(def.name)).has("g4")).toBe(false);
  });

  it("is kept in flight for the whole wait, then let go, when the batch has the time", async () => {
    for (const n of [5, 6, 7]) {
      await sqs.send(
        new SendMessageCommand({ QueueUrl: url, MessageBody: `{"n":${n}}`, MessageGroupId: `g${n}` }),
      );
      const records = await receive();
      const result = await runQueueBatch({ Records: records }, deps(0.2), refuse, {
        getRemainingTimeInMillis: () => 60_000,
      });
      expect(result.batchItemFailures).toEqual([]);
    }
  });

  it("goes back to the queue invisible for the rest of the wait when the batch has no time to keep it", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{"n":2}', MessageGroupId: "g2" }));
    const records = await receive();
    expect(records).toHaveLength(1);
    // Less time left than the margin the batch keeps: it cannot wait the hold's second out.
    const result = await runQueueBatch({ Records: records }, deps(1), refuse, {
      getRemainingTimeInMillis: () => 500,
    });
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: records[0]?.messageId }]);
    expect(await receive()).toEqual([]);

    const back = await eventually(async () => {
      const got = await receive();
      return got.length > 0 ? got : undefined;
    });
    expect(back.map((r) => r.messageId)).toEqual(records.map((r) => r.messageId));
    let worked = 0;
    const again = await runQueueBatch({ Records: back }, deps(1), async () => {
      worked++;
      return "delivered";
    });
    expect(again.batchItemFailures).toEqual([]);
    expect(worked).toBe(0);
    expect((await deadLetters.list()).items.filter((l) => l.messageGroupId === "g2")).toHaveLength(1);
  });
});
