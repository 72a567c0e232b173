import { randomBytes } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, DeleteQueueCommand, type Message, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { inject } from "vitest";
import { DynamoDeadLetterStore } from "#shared/adapters/dynamodb/dead-letter-store.ts";
import { makeDocumentClient } from "#shared/adapters/dynamodb/store.ts";
import { TableClient } from "#shared/adapters/dynamodb/table-client.ts";
import { SecretBox } from "#shared/adapters/secret-box.ts";
import type { QueueDef } from "#shared/resources.ts";
import { provision } from "../../local/provision.ts";

/** A queue definition for a worker test: an inbound-worker queue named `name`, nothing held back. */
export function workerQueueDef(name: string, visibilitySeconds: number): QueueDef {
  const env = name.toUpperCase();
  return {
    name,
    urlEnv: `${env}_TEST_QUEUE_URL`,
    dlqUrlEnv: `${env}_TEST_DLQ_URL`,
    visibilityTimeoutSeconds: visibilitySeconds,
    maxReceiveCount: 10,
    consumer: "inbound-worker",
    batchSize: 10,
    producers: [],
    maximumConcurrency: 2,
    stopTakingRecordsWithinSeconds: 0,
  };
}

/** A logger that says nothing: worker tests assert on queues and stores, not log lines. */
export const quietLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A FIFO queue of its own on fauxqs and a dead-letter store on DynamoDB Local, for tests that run a
 * queue worker's batch directly (no stack): `url` is also put in `process.env[urlEnv]`, where the
 * worker looks for it.
 */
export async function startWorkerQueue(urlEnv: string, visibilitySeconds: number) {
  const emulators = inject("emulators");
  const credentials = { accessKeyId: "local", secretAccessKey: "local" };
  const sqs = new SQSClient({ endpoint: emulators.awsEndpoint, region: "us-east-1", credentials });
  const out = await sqs.send(
    new CreateQueueCommand({
      QueueName: `wq${randomBytes(4).toString("hex")}.fifo`,
      Attributes: {
        FifoQueue: "true",
        ContentBasedDeduplication: "true",
        VisibilityTimeout: String(visibilitySeconds),
      },
    }),
  );
  const url = out.QueueUrl ?? "";
  process.env[urlEnv] = url;
  const { tableName } = await provision({ ...emulators, prefix: `wq${randomBytes(4).toString("hex")}-` });
  const dynamo = new DynamoDBClient({ endpoint: emulators.dynamoEndpoint, region: "us-east-1", credentials });
  const deadLetters = new DynamoDeadLetterStore(
    new TableClient(makeDocumentClient(dynamo), tableName, new SecretBox("worker-queue-test-key-0123456789")),
  );
  return {
    sqs,
    url,
    deadLetters,
    async stop() {
      await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
      sqs.destroy();
      dynamo.destroy();
    },
  };
}

/** A received message as Lambda's SQS event source hands it to the function. */
export function toRecord(m: Message): SQSRecord {
  return {
    messageId: m.MessageId ?? "",
    receiptHandle: m.ReceiptHandle ?? "",
    body: m.Body ?? "",
    attributes: {
      ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? "1",
      SentTimestamp: "0",
      SenderId: "local",
      ApproximateFirstReceiveTimestamp: "0",
      SequenceNumber: m.Attributes?.SequenceNumber,
      MessageGroupId: m.Attributes?.MessageGroupId,
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:worker-test",
    awsRegion: "us-east-1",
  };
}
