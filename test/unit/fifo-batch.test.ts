import { SQSClient } from "@aws-sdk/client-sqs";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { makeLogger } from "#shared/logger.ts";
import { runQueueBatch } from "#shared/queue-worker.ts";
import { queueConsumedBy } from "#shared/resources.ts";
import { processFifoBatch } from "#shared/sqs-batch.ts";

const record = (messageId: string, group: string): SQSRecord =>
  ({
    messageId,
    body: messageId,
    attributes: { MessageGroupId: group, ApproximateReceiveCount: "1" },
  }) as SQSRecord;

describe("processFifoBatch", () => {
  it("fails the rest of a failed record's group without running it, and runs other groups", async () => {
    const event: SQSEvent = {
      Records: [
        record("a1", "A"),
        record("b1", "B"),
        record("a2", "A"),
        record("b2", "B"),
        record("a3", "A"),
      ],
    };
    const ran: string[] = [];
    const result = await processFifoBatch(
      event,
      async (r) => {
        ran.push(r.messageId);
        if (r.messageId === "a2") throw new Error("boom");
      },
      makeLogger("t", { write: () => undefined }),
    );
    expect(ran).toEqual(["a1", "b1", "a2", "b2"]);
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(["a2", "a3"]);
  });
});

describe("runQueueBatch near the end of the invocation", () => {
  it("takes no record once less than the queue's reserve is left, and hands the rest back as failures", async () => {
    const queue = queueConsumedBy("inbound-worker");
    const reserveMs = queue.stopTakingRecordsWithinSeconds * 1000;
    // The invocation's clock: each record costs 10 s of a budget that starts 25 s above the reserve.
    let remainingMs = reserveMs + 25_000;
    const context = { getRemainingTimeInMillis: () => remainingMs };
    const ran: string[] = [];
    const body = (id: string) => JSON.stringify({ id });
    const event: SQSEvent = {
      Records: ["a1", "a2", "a3", "a4"].map((id) => ({ ...record(id, "A"), body: body(id) })),
    };
    const deadLetters: string[] = [];
    const result = await runQueueBatch(
      event,
      {
        queue,
        sqs: new SQSClient({}),
        deadLetters: { record: async (d: { id: string }) => void deadLetters.push(d.id) } as never,
        retry: { baseSeconds: 2, maxSeconds: 300 },
        logger: makeLogger("t", { write: () => undefined }),
      },
      async (value) => {
        ran.push((value as { id: string }).id);
        remainingMs -= 10_000;
        return "done";
      },
      context,
    );
    expect(ran).toEqual(["a1", "a2", "a3"]);
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(["a4"]);
    expect(deadLetters).toEqual([]);
  });
});
