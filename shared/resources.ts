/**
 * The one description of the system's resources: the CDK stacks (infra/) and the local stack (local/)
 * both build from it, so what runs on a laptop is what runs in AWS.
 */

/** Single-table design: every entity lives under `pk`/`sk`; `gsi1` serves look-ups by secondary keys. */
export const table = {
  partitionKey: "pk",
  sortKey: "sk",
  gsi1: { indexName: "gsi1", partitionKey: "gsi1pk", sortKey: "gsi1sk" },
  /** Epoch seconds; DynamoDB's TTL deletes the item some time after. */
  ttlAttribute: "expiresAt",
} as const;

export interface QueueDef {
  /** Logical name; the physical queue is `${name}.fifo`, its dead-letter queue `${name}-dlq.fifo`. */
  readonly name: string;
  /** Environment variable through which functions find the queue URL. */
  readonly urlEnv: string;
  /** Environment variable through which the dead-letter admin finds the queue's dead-letter queue URL. */
  readonly dlqUrlEnv: string;
  readonly visibilityTimeoutSeconds: number;
  /** Receives before a message moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /** Function that consumes the queue, with its batch size. */
  readonly consumer: FunctionName;
  readonly batchSize: number;
  /** Functions that put work on the queue (granted SendMessage; admin-api too, for dead-letter redrive). */
  readonly producers: readonly FunctionName[];
  /** Most concurrent consumer invocations the event source starts (SQS event source `MaximumConcurrency`, ≥ 2). */
  readonly maximumConcurrency: number;
  /**
   * A worker takes no further record of its batch once less than this is left of its timeout: the rest go
   * back to the queue as failures rather than being cut off mid-send when Lambda stops the invocation.
   */
  readonly stopTakingRecordsWithinSeconds: number;
}

export type FunctionName =
  | "waba-webhook"
  | "admin-api"
  | "inbound-worker"
  | "bitrix-events"
  | "bitrix-sms"
  | "bitrix-app"
  | "outbound-worker"
  | "calling-api";

export interface FunctionDef {
  readonly name: FunctionName;
  /** Entry module, relative to the repo root. */
  readonly entry: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly description: string;
}

export const functions: Record<FunctionName, FunctionDef> = {
  "waba-webhook": {
    name: "waba-webhook",
    entry: "functions/waba-webhook/handler.ts",
    timeoutSeconds: 10,
    memoryMb: 256,
    description: "Meta webhook: verify handshake, check X-Hub-Signature-256, split and enqueue events",
  },
  "admin-api": {
    name: "admin-api",
    entry: "functions/admin-api/handler.ts",
    timeoutSeconds: 15,
    memoryMb: 256,
    description: "Admin HTTP API, OpenAPI document and health check",
  },
  "calling-api": {
    name: "calling-api",
    entry: "functions/calling-api/handler.ts",
    timeoutSeconds: 15,
    memoryMb: 256,
    description: "Calling and SIP settings of WhatsApp numbers, applied to Meta (admin API routes)",
  },
  "bitrix-events": {
    name: "bitrix-events",
    entry: "functions/bitrix-events/handler.ts",
    timeoutSeconds: 30,
    memoryMb: 256,
    description: "Bitrix24 app install page, install/update/uninstall and connector events",
  },
  "bitrix-sms": {
    name: "bitrix-sms",
    entry: "functions/bitrix-sms/handler.ts",
    timeoutSeconds: 10,
    memoryMb: 256,
    description: "Bitrix24 SMS-provider handler and the WhatsApp template robot: onto the outbound queue",
  },
  "bitrix-app": {
    name: "bitrix-app",
    entry: "functions/bitrix-app/handler.ts",
    timeoutSeconds: 15,
    memoryMb: 256,
    description: "The app's pages inside Bitrix24: numbers with their calling settings, the template picker",
  },
  "outbound-worker": {
    name: "outbound-worker",
    entry: "functions/outbound-worker/handler.ts",
    // Room for an operator's file: downloaded from Bitrix24, uploaded to Meta (the Graph client allows an
    // upload 6 × HTTP_TIMEOUT_MS = 60 s; 10 files whose uploads never answer run 60.2 s in
    // bench/worker-runtime.ts, 10 texts whose sends never answer 20.3 s), then sent. Shorter would cut off
    // big files on a slow day.
    timeoutSeconds: 60,
    memoryMb: 512,
    description: "Sends operator replies, files and templates from Bitrix24 to WhatsApp",
  },
  "inbound-worker": {
    name: "inbound-worker",
    entry: "functions/inbound-worker/handler.ts",
    // A record starts only while 35 s are left (stopTakingRecordsWithinSeconds), and its worst measured
    // run is about 30 s (`node bench/worker-runtime.ts`, batches of 10 at HTTP_TIMEOUT_MS 10 s: Bitrix24
    // sends that never answer 30–32 s, three timeouts one after another; media downloads that never answer
    // 30.1 s), so 45 s leaves 10 s to start a batch's records. Short, because the queue's visibility timeout must be
    // at least this, and a crashed worker's conversations wait that long.
    timeoutSeconds: 45,
    // Media streams to S3 in 5 MiB parts (bench: about +50 MB RSS for 100 MB); the rest of a batch is small.
    memoryMb: 512,
    description: "Consumes inbound WhatsApp events from the FIFO queue",
  },
};

/**
 * A queue's visibility timeout beyond its consumer's function timeout. Only a batch's own receive-to-
 * invoke and return-to-delete need it: while the batch runs, its heartbeat keeps its records invisible.
 */
const VISIBILITY_MARGIN_SECONDS = 15;

export const queues: readonly QueueDef[] = [
  {
    name: "inbound",
    urlEnv: "INBOUND_QUEUE_URL",
    dlqUrlEnv: "INBOUND_DLQ_URL",
    // At least the consumer's timeout (AWS refuses an event source mapping otherwise:
    // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html) plus 15 s for the poll
    // before the invocation and the delete after it: a crashed worker's messages come back within 60 s.
    // A batch that runs long keeps its records invisible by heartbeat (shared/queue-worker.ts), so this
    // need not be AWS's suggested six times the timeout.
    visibilityTimeoutSeconds: functions["inbound-worker"].timeoutSeconds + VISIBILITY_MARGIN_SECONDS,
    // With backoff from 2 s doubling to 5 min, 300 receives ride out about 24 hours of Bitrix24 (or Meta)
    // trouble before anything becomes a dead letter; meanwhile each conversation waits in order.
    maxReceiveCount: 300,
    consumer: "inbound-worker",
    batchSize: 10,
    producers: ["waba-webhook", "admin-api"],
    // Bitrix24 allows each portal about 2 requests/s; more parallel batches only meet its limit sooner.
    maximumConcurrency: 10,
    // One record's worst measured run (about 30 s, see the inbound worker's timeout) and some to spare.
    stopTakingRecordsWithinSeconds: 35,
  },
  {
    name: "outbound",
    urlEnv: "OUTBOUND_QUEUE_URL",
    dlqUrlEnv: "OUTBOUND_DLQ_URL",
    // As for inbound: a crashed worker's operator messages come back within 75 s.
    visibilityTimeoutSeconds: functions["outbound-worker"].timeoutSeconds + VISIBILITY_MARGIN_SECONDS,
    maxReceiveCount: 300,
    consumer: "outbound-worker",
    batchSize: 10,
    producers: ["bitrix-events", "bitrix-sms", "admin-api"],
    maximumConcurrency: 10,
    // One operator file downloaded from Bitrix24 and uploaded to Meta.
    stopTakingRecordsWithinSeconds: 40,
  },
];

/** The log line a worker writes when it gives a message up; infra counts these lines to raise an alarm. */
export function deadLetterLogMessage(queue: string): string {
  return `${queue} record dead-lettered`;
}

export function queueConsumedBy(consumer: FunctionName): QueueDef {
  const queue = queues.find((q) => q.consumer === consumer);
  if (!queue) throw new Error(`No queue is consumed by ${consumer}`);
  return queue;
}

export interface RouteDef {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "ANY";
  /** API Gateway HTTP API route path; `{proxy+}` matches the rest of the path. */
  readonly path: string;
  readonly target: FunctionName;
}

export const routes: readonly RouteDef[] = [
  // API Gateway HTTP APIs refuse route paths ending in "/" and route `/api/waba/` to `/api/waba`.
  { method: "GET", path: "/api/waba", target: "waba-webhook" },
  { method: "POST", path: "/api/waba", target: "waba-webhook" },
  { method: "POST", path: "/api/bitrix", target: "bitrix-events" },
  { method: "POST", path: "/api/bitrix/sms", target: "bitrix-sms" },
  { method: "POST", path: "/api/bitrix/robot", target: "bitrix-sms" },
  { method: "POST", path: "/api/bitrix/app", target: "bitrix-app" },
  { method: "ANY", path: "/api/bitrix/app/{proxy+}", target: "bitrix-app" },
  { method: "GET", path: "/api/health", target: "admin-api" },
  // More specific than the admin API's {proxy+}: API Gateway (and the local gateway) route them here.
  { method: "GET", path: "/api/admin/phones/{phoneId}/calling", target: "calling-api" },
  { method: "PUT", path: "/api/admin/phones/{phoneId}/calling", target: "calling-api" },
  { method: "ANY", path: "/api/admin/{proxy+}", target: "admin-api" },
];

/** Environment variable names functions read for the stateful resources. */
export const resourceEnv = {
  tableName: "TABLE_NAME",
  mediaBucket: "MEDIA_BUCKET",
  /** Secret `{ encryptionKey }`: read by every function, since each unseals stored credentials. */
  encryptionKeySecretArn: "ENCRYPTION_KEY_SECRET_ARN",
  /** Secret `{ adminToken }`: read only by the functions that answer the admin API. */
  adminTokenSecretArn: "ADMIN_TOKEN_SECRET_ARN",
  /** CloudWatch namespace of the embedded-metric lines; one per stage, so stages never mix. */
  metricsNamespace: "METRICS_NAMESPACE",
} as const;

export const mediaBucket = {
  /** Days after which stored media is deleted by the bucket lifecycle. */
  expireAfterDays: 30,
};
