import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, describe, expect, inject, it } from "vitest";
import { startSqsS3Emulator } from "../../local/emulators.ts";
import { provision } from "../../local/provision.ts";
import { eventually } from "../support/stack.ts";

/**
 * What `npm start` after a `kill -9` finds in the SQS emulator's data directory, compared with SQS: a
 * message the dead consumer had received stays in flight until its visibility timeout runs out, blocks
 * its FIFO group meanwhile, and then comes back with its receive count raised, ahead of the rest of its
 * group (https://repost.aws/knowledge-center/sqs-fifo-messages-not-returned: "Inflight messages block
 * delivery of available messages within the same message group"; "You can wait until the message
 * visibility timeout period expires to allow message redelivery"). The crash test's recovery figures
 * rest on this.
 */
const VISIBILITY = 3;
const dir = mkdtempSync(join(tmpdir(), "waba-queue-restart-"));
const clients: SQSClient[] = [];

afterAll(() => {
  for (const c of clients) c.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function client(endpoint: string): SQSClient {
  const sqs = new SQSClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  clients.push(sqs);
  return sqs;
}

const receive = async (sqs: SQSClient, url: string, max: number): Promise<Message[]> =>
  (
    await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["All"],
      }),
    )
  ).Messages ?? [];

describe("SQS emulator restarted on its data directory", () => {
  it("keeps a dead consumer's message in flight until its visibility runs out, then serves its group whole, in order", async () => {
    const before = await startSqsS3Emulator(dir);
    let sqs = client(before.endpoint);
    const created = await sqs.send(
      new CreateQueueCommand({
        QueueName: "restart.fifo",
        Attributes: {
          FifoQueue: "true",
          ContentBasedDeduplication: "true",
          VisibilityTimeout: String(VISIBILITY),
        },
      }),
    );
    for (const [group, body] of [
      ["a", "a1"],
      ["a", "a2"],
      ["b", "b1"],
    ] as const) {
      await sqs.send(
        new SendMessageCommand({ QueueUrl: created.QueueUrl, MessageBody: body, MessageGroupId: group }),
      );
    }
    const taken = await receive(sqs, created.QueueUrl ?? "", 1);
    const receivedAt = Date.now();
    expect(taken.map((m) => m.Body)).toEqual(["a1"]);
    // The consumer dies: nothing is deleted, and the emulator goes down with it.
    await before.stop();

    const after = await startSqsS3Emulator(dir);
    sqs = client(after.endpoint);
    const { QueueUrl: url = "" } = await sqs.send(new GetQueueUrlCommand({ QueueName: "restart.fifo" }));
    const first = await receive(sqs, url, 10);
    if (Date.now() < receivedAt + VISIBILITY * 1000) {
      // Still within a1's visibility: only the other group is served.
      expect(first.map((m) => m.Body)).toEqual(["b1"]);
    }
    const other = first.filter((m) => m.Body === "b1");
    for (const m of other)
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));

    const back = await eventually(async () => {
      const got = first.some((m) => m.Body === "a1") ? first : await receive(sqs, url, 10);
      return got.some((m) => m.Body === "a1")
        ? { got: got.filter((m) => m.Body !== "b1"), at: Date.now() }
        : undefined;
    }, 30_000);
    expect(back.at).toBeGreaterThanOrEqual(receivedAt + VISIBILITY * 1000);
    expect(back.got.map((m) => m.Body)).toEqual(["a1", "a2"]);
    expect(back.got[0]?.Attributes?.ApproximateReceiveCount).toBe("2");
    await after.stop();
  });

  it("starts on data whose queues have an older visibility timeout, and updates them in place", async () => {
    const emulators = inject("emulators");
    const prefix = `vr${randomBytes(4).toString("hex")}-`;
    await provision({ ...emulators, prefix, visibilityTimeoutSeconds: 90 });
    const again = await provision({ ...emulators, prefix, visibilityTimeoutSeconds: 60 });
    const sqs = client(emulators.awsEndpoint);
    for (const queue of again.queues) {
      const out = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ["VisibilityTimeout"] }),
      );
      expect(out.Attributes?.VisibilityTimeout).toBe("60");
    }
  });
});
