import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { lambdaContext } from "./gateway.ts";
import type { ProvisionedQueue } from "./provision.ts";

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

export interface PollerOptions {
  readonly sqs: SQSClient;
  readonly queue: ProvisionedQueue;
  readonly handler: SqsHandler;
  readonly timeoutSeconds: number;
  /** Parallel consumers, as Lambda runs several for a FIFO queue with many message groups. */
  readonly concurrency: number;
  readonly waitTimeSeconds: number;
  readonly log: (line: string) => void;
}

/**
 * What Lambda's SQS event source does, locally: receive up to the batch size, invoke the handler with a
 * real SQSEvent, delete what succeeded, leave the reported failures (or the whole batch, when the handler
 * throws) to reappear after the visibility timeout — and SQS moves them to the DLQ after max receives.
 */
export function startPoller(options: PollerOptions): { stop(): Promise<void> } {
  const abort = new AbortController();
  const loops = Array.from({ length: options.concurrency }, () => pollLoop(options, abort.signal));
  return {
    stop: async () => {
      abort.abort();
      await Promise.allSettled(loops);
    },
  };
}

async function pollLoop(options: PollerOptions, signal: AbortSignal): Promise<void> {
  const { sqs, queue } = options;
  while (!signal.aborted) {
    let messages: Message[];
    try {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queue.url,
          MaxNumberOfMessages: queue.def.batchSize,
          WaitTimeSeconds: options.waitTimeSeconds,
          MessageSystemAttributeNames: ["All"],
          MessageAttributeNames: ["All"],
        }),
        { abortSignal: signal },
      );
      messages = out.Messages ?? [];
    } catch (error) {
      if (signal.aborted) return;
      options.log(`${queue.def.consumer}: receive failed: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    if (messages.length === 0) continue;
    const event: SQSEvent = { Records: messages.map((m) => toRecord(m, queue.arn)) };
    let failed: Set<string>;
    try {
      const result = await options.handler(event, lambdaContext(queue.def.consumer, options.timeoutSeconds));
      failed = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (error) {
      options.log(
        `${queue.def.consumer}: handler threw, whole batch will be retried: ${(error as Error).message}`,
      );
      failed = new Set(messages.map((m) => m.MessageId ?? ""));
    }
    const done = messages.filter((m) => !failed.has(m.MessageId ?? ""));
    if (done.length > 0) {
      try {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queue.url,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? "" })),
          }),
        );
      } catch (error) {
        // As with Lambda: what was not deleted comes back after the visibility timeout (handled twice,
        // never lost); the loop goes on.
        options.log(`${queue.def.consumer}: delete failed: ${(error as Error).message}`);
      }
    }
    options.log(`${queue.def.consumer}: ${messages.length} record(s), ${failed.size} failed`);
  }
}

function toRecord(m: Message, queueArn: string): SQSRecord {
  const a = m.Attributes ?? {};
  return {
    messageId: m.MessageId ?? "",
    receiptHandle: m.ReceiptHandle ?? "",
    body: m.Body ?? "",
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? "1",
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? "000000000000",
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      SequenceNumber: a.SequenceNumber,
      MessageGroupId: a.MessageGroupId,
      MessageDeduplicationId: a.MessageDeduplicationId,
    },
    // As Lambda hands them over: Powertools' SqsSchema (https://docs.aws.amazon.com/powertools/typescript/
    // 2.26.0/api/variables/_aws-lambda-powertools_parser.schemas.SqsSchema.html) and aws_lambda_events'
    // example-sqs-event.json fixture.
    messageAttributes: Object.fromEntries(
      Object.entries(m.MessageAttributes ?? {}).map(([name, v]) => [
        name,
        {
          dataType: v.DataType ?? "String",
          ...(v.StringValue === undefined ? {} : { stringValue: v.StringValue }),
          stringListValues: [],
          binaryListValues: [],
        },
      ]),
    ),
    md5OfBody: m.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: "us-east-1",
  };
}
