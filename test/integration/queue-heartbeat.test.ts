import { randomBytes } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DynamoDeadLetterStore } from "#shared/adapters/dynamodb/dead-letter-store.ts";
import { makeDocumentClient } from "#shared/adapters/dynamodb/store.ts";
import { TableClient } from "#shared/adapters/dynamodb/table-client.ts";
import { SecretBox } from "#shared/adapters/secret-box.ts";
import { runQueueBatch } from "#shared/queue-worker.ts";
import type { QueueDef } from "#shared/resources.ts";
import { provision } from "../../local/provision.ts";

/**
 * A batch that runs longer than the queue's visibility timeout keeps its records: the worker's heartbeat
 * keeps them invisible, so no second worker gets them while the first still works (against fauxqs).
 */
const emulators = inject("emulators");
const sqs = new SQSClient({
  endpoint: emulators.awsEndpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "local", secretAccessKey: "local" },
});
const VISIBILITY = 2;
let url: string;
let deadLetters: DynamoDeadLetterStore;
let dynamo: DynamoDBClient;
const def: QueueDef = {
  name: "heartbeat",
  urlEnv: "HEARTBEAT_TEST_QUEUE_URL",
  dlqUrlEnv: "HEARTBEAT_TEST_DLQ_URL",
  visibilityTimeoutSeconds: VISIBILITY,
  maxReceiveCount: 10,
  consumer: "inbound-worker",
  batchSize: 10,
  producers: [],
  maximumConcurrency: 2,
  stopTakingRecordsWithinSeconds: 0,
};

beforeAll(async () => {
  const out = await sqs.send(
    new CreateQueueCommand({
      QueueName: `hb${randomBytes(4).toString("hex")}.fifo`,
      Attributes: {
        FifoQueue: "true",
        ContentBasedDeduplication: "true",
        VisibilityTimeout: String(VISIBILITY),
      },
    }),
  );
  url = out.QueueUrl ?? "";
  process.env[def.urlEnv] = url;
  // A real dead-letter store on DynamoDB Local: a record that ran out of time would land there.
  const { tableName } = await provision({ ...emulators, prefix: `hb${randomBytes(4).toString("hex")}-` });
  dynamo = new DynamoDBClient({
    endpoint: emulators.dynamoEndpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  deadLetters = new DynamoDeadLetterStore(
    new TableClient(
      makeDocumentClient(dynamo),
      tableName,
      new SecretBox("heartbeat-test-key-0123456789abcdef"),
    ),
  );
});

afterAll(async () => {
  await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
  sqs.destroy();
  dynamo?.destroy();
});

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function toRecord(m: Message): SQSRecord {
  return {
    messageId: m.MessageId ?? "",
    receiptHandle: m.ReceiptHandle ?? "",
    body: m.Body ?? "",
    attributes: {
      ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? "1",
      SentTimestamp: "0",
      SenderId: "local",
      ApproximateFirstReceiveTimestamp: "0",
      MessageGroupId: m.Attributes?.MessageGroupId,
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:heartbeat",
    awsRegion: "us-east-1",
  };
}

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
        logger: quiet,
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
      { queue: def, sqs, deadLetters, retry: { baseSeconds: 1, maxSeconds: 1 }, logger: quiet },
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
