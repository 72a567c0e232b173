import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { makeSqsClient } from "#shared/adapters/sqs/fifo-queue.ts";
import { routeLogLines } from "#shared/logger.ts";
import { type FunctionName, functions, routes } from "#shared/resources.ts";
import { type Emulators, startEmulators } from "./emulators.ts";
import { createGateway, type HttpHandler } from "./gateway.ts";
import { installIamGuard, runAs } from "./iam-guard.ts";
import { type SqsHandler, startPoller } from "./poller.ts";
import { type Provisioned, provision } from "./provision.ts";

export interface LocalStackOptions {
  /** Gateway port; 0 picks a free one. */
  readonly port: number;
  /** Keep data here between runs; without it all state is in memory. */
  readonly dataDir?: string;
  /** Reuse running emulators (tests share one pair); otherwise they are started and stopped with the stack. */
  readonly emulators?: { dynamoEndpoint: string; awsEndpoint: string };
  readonly prefix?: string;
  readonly adminToken: string;
  readonly encryptionKey: string;
  readonly visibilityTimeoutSeconds?: number;
  /** Receives before a queue's dead-letter queue (the workers read it from the queue). */
  readonly maxReceiveCount?: number;
  readonly pollWaitSeconds?: number;
  readonly pollerConcurrency?: number;
  /** Further configuration (GRAPH_API_BASE_URL, BITRIX_OAUTH_URL, PUBLIC_BASE_URL, LINE_PREFIX …). */
  readonly env?: Record<string, string | undefined>;
  readonly log?: (line: string) => void;
  /** Told of every handler invocation and how long it ran (`npm run cost` bills Lambda from it). */
  readonly onInvoke?: (name: FunctionName, durationMs: number) => void;
}

export interface LocalStack {
  readonly url: string;
  readonly port: number;
  readonly adminToken: string;
  readonly resources: Provisioned;
  readonly endpoints: { dynamoEndpoint: string; awsEndpoint: string };
  stop(): Promise<void>;
}

const repoRoot = new URL("../", import.meta.url);

/**
 * The whole system on one machine: emulators, resources from shared/resources.ts, the API-Gateway-
 * compatible server and the queue pollers, all calling the handler modules Lambda runs. Configuration
 * reaches the handlers the way Lambda gives it: environment variables, read at their cold start.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const started = options.emulators ? undefined : await startEmulators(options.dataDir);
  try {
    return await startOn(options, started);
  } catch (error) {
    // A failed start (busy port, unreachable emulator) leaves no DynamoDB Local behind on the data.
    await started?.stop();
    throw error;
  }
}

async function startOn(options: LocalStackOptions, started: Emulators | undefined): Promise<LocalStack> {
  const log = options.log ?? ((line: string) => console.log(line));
  if (options.log) routeLogLines(options.log);
  const endpoints = options.emulators ?? {
    dynamoEndpoint: started?.dynamoEndpoint ?? "",
    awsEndpoint: started?.awsEndpoint ?? "",
  };
  const prefix = options.prefix ?? "separator-waba-";
  const resources = await provision({
    ...endpoints,
    prefix,
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
    maxReceiveCount: options.maxReceiveCount,
  });

  Object.assign(process.env, {
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamoEndpoint,
    AWS_ENDPOINT_URL_SQS: endpoints.awsEndpoint,
    AWS_ENDPOINT_URL_S3: endpoints.awsEndpoint,
    TABLE_NAME: resources.tableName,
    MEDIA_BUCKET: resources.bucketName,
    ADMIN_TOKEN: options.adminToken,
    ENCRYPTION_KEY: options.encryptionKey,
    LOCAL_STACK: "1",
    ...Object.fromEntries(resources.queues.map((q) => [q.def.urlEnv, q.url])),
    ...Object.fromEntries(resources.queues.map((q) => [q.def.dlqUrlEnv, q.dlqUrl])),
  });
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }

  // Each function's calls are held to its IAM grants, as in AWS (before any handler creates a client).
  installIamGuard();
  const asFunction =
    <E, C, R>(fn: FunctionName, handler: (event: E, context: C) => R) =>
    (event: E, context: C): R =>
      runAs({ fn, tableName: resources.tableName, bucketName: resources.bucketName, log }, () =>
        handler(event, context),
      );

  const modules = new Map<FunctionName, Promise<{ handler: unknown }>>();
  const load = (name: FunctionName) => {
    let mod = modules.get(name);
    if (!mod) {
      mod = import(new URL(functions[name].entry, repoRoot).href).then((m: { handler: unknown }) =>
        options.onInvoke ? { handler: timed(name, m.handler as Invocable, options.onInvoke) } : m,
      );
      modules.set(name, mod);
    }
    return mod;
  };

  const gateway = createGateway({
    routes,
    handlerFor: async (name) => ({
      handler: asFunction(name, (await load(name)).handler as HttpHandler),
      timeoutSeconds: functions[name].timeoutSeconds,
    }),
    log,
  });
  await new Promise<void>((resolve, reject) => {
    gateway.once("error", reject);
    gateway.listen(options.port, "127.0.0.1", () => {
      gateway.off("error", reject);
      resolve();
    });
  });
  const port = (gateway.address() as AddressInfo).port;

  const sqs = makeSqsClient();
  const pollers = await Promise.all(
    resources.queues.map(async (queue) =>
      startPoller({
        sqs,
        queue,
        handler: asFunction(queue.def.consumer, (await load(queue.def.consumer)).handler as SqsHandler),
        timeoutSeconds: functions[queue.def.consumer].timeoutSeconds,
        concurrency: options.pollerConcurrency ?? 2,
        waitTimeSeconds: options.pollWaitSeconds ?? 5,
        log,
      }),
    ),
  );

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    adminToken: options.adminToken,
    resources,
    endpoints,
    stop: async () => {
      await Promise.all(pollers.map((p) => p.stop()));
      sqs.destroy();
      gateway.closeAllConnections();
      await new Promise<void>((resolve) => gateway.close(() => resolve()));
      await started?.stop();
    },
  };
}

type Invocable = (...args: unknown[]) => Promise<unknown>;

function timed(
  name: FunctionName,
  handler: Invocable,
  onInvoke: (name: FunctionName, durationMs: number) => void,
): Invocable {
  return async (...args) => {
    const start = performance.now();
    try {
      return await handler(...args);
    } finally {
      onInvoke(name, performance.now() - start);
    }
  };
}

export function generateSecret(): string {
  return randomBytes(32).toString("base64url");
}
