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

  it("starts a group's next record once the previous one handed its work off, in order", async () => {
    const event: SQSEvent = { Records: [record("a1", "A"), record("a2", "A"), record("a3", "A")] };
    const started: string[] = [];
    const finish = new Map<string, () => void>();
    const result = processFifoBatch(
      event,
      (r, handOff, previous) => {
        started.push(`${r.messageId}${previous ? " after previous" : ""}`);
        return new Promise<void>((resolve) => {
          finish.set(r.messageId, resolve);
          handOff();
        });
      },
      makeLogger("t", { write: () => undefined }),
    );
    await new Promise((r) => setTimeout(r, 10));
    // All three are in flight together: none had to finish for the next to start.
    expect(started).toEqual(["a1", "a2 after previous", "a3 after previous"]);
    for (const done of finish.values()) done();
    expect((await result).batchItemFailures).toEqual([]);
  });

  it("tells each record when its group's next record has queued its work, failed, or there is none", async () => {
    const event: SQSEvent = {
      Records: [record("a1", "A"), record("a2", "A"), record("a3", "A"), record("b1", "B")],
    };
    const settled: string[] = [];
    const finish = new Map<string, () => void>();
    const result = processFifoBatch(
      event,
      (r, handOff, _previous, nextQueued) => {
        void nextQueued.then(() => settled.push(r.messageId));
        if (r.messageId === "a3") return Promise.reject(new Error("a3 failed before queuing anything"));
        return new Promise<void>((resolve) => {
          finish.set(r.messageId, resolve);
          // a2 queues its work only when told: until then a1's next is not queued.
          if (r.messageId !== "a2") handOff();
          else finish.set("a2-handoff", handOff);
        });
      },
      makeLogger("t", { write: () => undefined }),
    );
    await new Promise((r) => setTimeout(r, 10));
    // b1 has no next record; a1's next (a2) has not queued its work yet.
    expect(settled).toEqual(["b1"]);
    finish.get("a2-handoff")?.();
    await new Promise((r) => setTimeout(r, 10));
    // a2 queued (a1 may go); a3 failed, so a2 waits for nothing more, and a3 itself has no next.
    expect(settled.sort()).toEqual(["a1", "a2", "a3", "b1"]);
    for (const [id, done] of finish) if (!id.endsWith("handoff")) done();
    expect((await result).batchItemFailures.map((f) => f.itemIdentifier)).toEqual(["a3"]);
  });

  it("reports a handed-off record that fails later, and every record after it, as failed", async () => {
    const event: SQSEvent = {
      Records: [record("a1", "A"), record("a2", "A"), record("a3", "A"), record("b1", "B")],
    };
    const result = await processFifoBatch(
      event,
      async (r, handOff) => {
        handOff();
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (r.messageId === "a2") throw new Error("the shared call failed");
      },
      makeLogger("t", { write: () => undefined }),
    );
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
