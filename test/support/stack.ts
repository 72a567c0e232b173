import { randomBytes } from "node:crypto";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { inject } from "vitest";
import { makeSqsClient } from "#shared/adapters/sqs/fifo-queue.ts";
import { type LocalStack, startLocalStack } from "../../local/stack.ts";

export const TEST_ADMIN_TOKEN = "test-admin-token-not-a-secret";

export interface TestStack extends LocalStack {
  /** Calls the admin API with the bearer token; `body` is sent as JSON. */
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Log lines of gateway, pollers and handlers, for assertions and for failure output. */
  readonly logs: string[];
  /**
   * Resolves once no queue of the stack holds a message (waiting, in flight or delayed): everything sent
   * so far has been handled. Tests that assert something did not happen wait for this, not for a time.
   */
  settled(timeoutMs?: number): Promise<void>;
  /**
   * Lets this stack's functions be refused AWS calls by their IAM grants. Otherwise `stop()` fails the
   * test file on any refusal, also one the code caught and logged away (it would fail the same in AWS).
   */
  expectIamRefusals(): void;
}

/**
 * The local stack against the run's shared emulators: own table, queues and bucket, gateway on a free
 * port, pollers with test-sized waits (5 s visibility timeout; workers set shorter backoffs themselves).
 */
export async function startTestStack(
  env: Record<string, string | undefined> = {},
  /** `pollerConcurrency`: concurrent invocations per queue (the local stack's default is 2). */
  queues: { maxReceiveCount?: number; pollerConcurrency?: number } = {},
): Promise<TestStack> {
  const logs: string[] = [];
  const stack = await startLocalStack({
    port: 0,
    emulators: inject("emulators"),
    prefix: `t${randomBytes(4).toString("hex")}-`,
    adminToken: TEST_ADMIN_TOKEN,
    encryptionKey: "test-encryption-key-material-0123456789",
    visibilityTimeoutSeconds: 5,
    maxReceiveCount: queues.maxReceiveCount,
    pollWaitSeconds: 1,
    ...(queues.pollerConcurrency ? { pollerConcurrency: queues.pollerConcurrency } : {}),
    // A worker that holds a conversation waits this long before letting it go on: test-sized.
    env: { HELD_CONVERSATIONS_CACHE_SECONDS: "0.2", ...env },
    log: (line) => logs.push(line),
  });
  const sqs = makeSqsClient();
  const held = async (queueUrl: string) => {
    const out = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: [
          "ApproximateNumberOfMessages",
          "ApproximateNumberOfMessagesNotVisible",
          "ApproximateNumberOfMessagesDelayed",
        ],
      }),
    );
    return Object.values(out.Attributes ?? {}).reduce((sum, n) => sum + Number(n), 0);
  };
  let refusalsExpected = false;
  return {
    ...stack,
    logs,
    expectIamRefusals() {
      refusalsExpected = true;
    },
    async settled(timeoutMs = 15_000) {
      await eventually(async () => {
        const counts = await Promise.all(stack.resources.queues.map((q) => held(q.url)));
        return counts.every((n) => n === 0) ? true : undefined;
      }, timeoutMs);
    },
    async stop() {
      sqs.destroy();
      await stack.stop();
      const refused = logs.filter((line) => line.startsWith("iam: "));
      if (refused.length > 0 && !refusalsExpected) {
        throw new Error(`AWS calls the functions' IAM grants refuse:\n${refused.join("\n")}`);
      }
    },
    async admin(method, path, body) {
      const res = await fetch(`${stack.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}
