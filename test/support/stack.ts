import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { type LocalStack, startLocalStack } from "../../local/stack.ts";

export const TEST_ADMIN_TOKEN = "test-admin-token-not-a-secret";

export interface TestStack extends LocalStack {
  /** Calls the admin API with the bearer token; `body` is sent as JSON. */
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Log lines of gateway and pollers, for assertions and for failure output. */
  readonly logs: string[];
}

/**
 * The local stack against the run's shared emulators: own table, queues and bucket, gateway on a free
 * port, pollers with test-sized waits (5 s visibility timeout; workers set shorter backoffs themselves).
 */
export async function startTestStack(env: Record<string, string | undefined> = {}): Promise<TestStack> {
  const logs: string[] = [];
  const stack = await startLocalStack({
    port: 0,
    emulators: inject("emulators"),
    prefix: `t${randomBytes(4).toString("hex")}-`,
    adminToken: TEST_ADMIN_TOKEN,
    encryptionKey: "test-encryption-key-material-0123456789",
    visibilityTimeoutSeconds: 5,
    pollWaitSeconds: 1,
    env,
    log: (line) => logs.push(line),
  });
  return {
    ...stack,
    logs,
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
