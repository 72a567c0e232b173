import type { SQSEvent, SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { makeLogger } from "#shared/logger.ts";
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
