/**
 * `npm run cost` — what one message costs in AWS requests and dollars, measured on the local stack.
 *
 * The local stack runs against its own DynamoDB Local and fauxqs behind a counting proxy
 * (local/aws-meter.ts), with every handler invocation timed, against the loopback fakes of Meta and
 * Bitrix24 (an Enterprise portal, so pacing does not shape the numbers). Loads:
 *   (a)  200 inbound texts, one per webhook, paced at 2 per second (20 customers, 10 each);
 *   (a2) the same 200 posted as one burst;
 *   (b)  200 inbound texts, ten per webhook;
 *   (c)  20 inbound images;
 *   (e)  200 operator texts (run before (d): their wamids are what the statuses are about);
 *   (d)  200 delivered + 200 read statuses of those texts;
 *   (f)  50 CRM SMS;
 *   (g)  60 s idle, plus what the synthesized stacks cost while nothing happens.
 * Each load runs COST_RUNS times (default 3); every figure is the median of the runs. Printed per unit
 * and in dollars per million at AWS list prices (us-east-1, below), without CloudWatch Logs; written to
 * bench/cost.json. Asserts nothing.
 *
 * SQS requests of a load leave out empty receives: in AWS those are the event source's pollers, which
 * poll whether or not anything arrives — they are in the idle figure. Lambda GB-s is each invocation's
 * measured duration (rounded up to 1 ms, as Lambda bills) × the function's configured memory; locally
 * the emulators answer slower than AWS does, so durations lean high.
 */
import { writeFileSync } from "node:fs";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { App } from "aws-cdk-lib";
import { type FunctionName, functions } from "#shared/resources.ts";
import { buildApp } from "../infra/build-app.ts";
import { type AwsMeter, startAwsMeter } from "../local/aws-meter.ts";
import { startEmulators } from "../local/emulators.ts";
import { type LocalStack, startLocalStack } from "../local/stack.ts";
import { type BitrixFake, startBitrixFake } from "../test/fakes/bitrix24.ts";
import { type MetaGraphFake, signWebhook, startMetaGraphFake } from "../test/fakes/meta-graph.ts";
import { imageWebhook, type OurNumber, statusWebhook, textsWebhook } from "./webhooks.ts";

/**
 * AWS list prices, us-east-1, as published on the pricing pages named; read 2026-12-01. Free tiers are
 * left out (a deployment's own traffic decides whether they apply).
 */
export const PRICES = {
  date: "2026-12-01",
  // https://aws.amazon.com/api-gateway/pricing/ — HTTP APIs, first 300 million requests a month.
  httpApiRequest: 1.0 / 1e6,
  // https://aws.amazon.com/lambda/pricing/ — requests; duration on Arm (Graviton), first 7.5 B GB-s tier.
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecondArm: 0.0000133334,
  // https://aws.amazon.com/sqs/pricing/ — FIFO queues, per request (each 64 KB chunk of a payload).
  sqsFifoRequest: 0.5 / 1e6,
  // https://aws.amazon.com/dynamodb/pricing/on-demand/ — on-demand, since the November 2024 reduction.
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  // https://aws.amazon.com/s3/pricing/ — S3 Standard: PUT, COPY, POST, LIST / GET and all other requests.
  s3WriteRequest: 0.005 / 1000,
  s3ReadRequest: 0.0004 / 1000,
  // https://aws.amazon.com/cloudwatch/pricing/ — standard-resolution alarm per metric; custom dashboard.
  alarmPerMonth: 0.1,
  dashboardPerMonth: 3.0,
  // https://aws.amazon.com/secrets-manager/pricing/ — per secret; https://aws.amazon.com/kms/pricing/ — per key.
  secretPerMonth: 0.4,
  kmsKeyPerMonth: 1.0,
} as const;

/**
 * Idle polling of one SQS event source mapping: Lambda keeps pollers long-polling the queue
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html: it starts with five).
 * With SQS's longest wait of 20 s that is 3 receives a minute each. An assumption, stated: AWS does not
 * publish the idle poll rate.
 */
const IDLE_POLLERS_PER_MAPPING = 5;
const IDLE_RECEIVES_PER_POLLER_PER_MINUTE = 3;
const MINUTES_PER_MONTH = 43_800;

const ADMIN_TOKEN = "cost-admin-token-not-a-secret";
const ENCRYPTION_KEY = "cost-encryption-key-material-0123456789";
const APP_ID = "3333";
const APP_SECRET = "app-secret-cost-0001";
const WABA_ID = "102290129340398";
const WABA_TOKEN = "EAAG-cost-waba-token";
const CLIENT_ID = "local.cost000000000.00000001";
const CLIENT_SECRET = "cost-bitrix-client-secret";
const PHONE_ID = "106540352242944";
const PHONE = "+15550783884";
const CUSTOMERS = 20;
const NUMBER: OurNumber = { wabaId: WABA_ID, phoneId: PHONE_ID, displayPhone: PHONE.slice(1) };
const RUNS = Number(process.env.COST_RUNS ?? 3);
const IDLE_SECONDS = Number(process.env.COST_IDLE_SECONDS ?? 60);

interface Invocation {
  readonly fn: FunctionName;
  readonly ms: number;
}

interface Snapshot {
  aws: number;
  invocations: number;
  bitrix: number;
  graph: number;
}

export interface LoadFigures {
  units: number;
  gatewayRequests: number;
  lambdaInvocations: number;
  lambdaGbSeconds: number;
  sqsRequests: number;
  dynamoReads: number;
  dynamoReadUnits: number;
  dynamoWrites: number;
  dynamoWriteUnits: number;
  s3Requests: number;
  bitrixCalls: number;
  graphCalls: number;
  usdPerMillion: number;
  /** DynamoDB items written / read per unit, by key prefix (where the writes go). */
  writesByPrefix: Record<string, number>;
  readsByPrefix: Record<string, number>;
}

const HTTP_FUNCTIONS = new Set<FunctionName>(["waba-webhook", "admin-api", "bitrix-events", "bitrix-sms"]);

class World {
  readonly invocations: Invocation[] = [];
  meter!: AwsMeter;
  stack!: LocalStack;
  meta!: MetaGraphFake;
  bitrix!: BitrixFake;
  memberId = "";
  lineId = 0;
  #stopEmulators: (() => Promise<void>) | undefined;
  /** Straight to the emulator, past the meter: watching the queues is not the system's cost. */
  #sqs: SQSClient | undefined;

  async start(): Promise<void> {
    const emulators = await startEmulators();
    this.#stopEmulators = emulators.stop;
    this.#sqs = new SQSClient({
      endpoint: emulators.awsEndpoint,
      useQueueUrlAsEndpoint: false,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    this.meter = await startAwsMeter(emulators);
    this.meta = await startMetaGraphFake();
    this.meta.addToken(WABA_TOKEN);
    this.bitrix = await startBitrixFake();
    this.stack = await startLocalStack({
      port: 0,
      emulators: this.meter.endpoints,
      prefix: "cost-",
      adminToken: ADMIN_TOKEN,
      encryptionKey: ENCRYPTION_KEY,
      pollWaitSeconds: 20,
      env: {
        GRAPH_API_BASE_URL: this.meta.url,
        BITRIX_OAUTH_URL: this.bitrix.oauthUrl,
        LOG_LEVEL: "error",
      },
      log: () => undefined,
      onInvoke: (fn, ms) => this.invocations.push({ fn, ms }),
    });
    await this.#admin("POST", "/api/admin/apps", { appId: APP_ID, name: "Shop", appSecret: APP_SECRET });
    await this.#admin("POST", "/api/admin/wabas", {
      wabaId: WABA_ID,
      name: "Main",
      appId: APP_ID,
      accessToken: WABA_TOKEN,
    });
    await this.#admin("POST", "/api/admin/bitrix-apps", { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const { memberId } = this.bitrix.addPortal({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      installed: true,
      licenseFamily: "ent",
    });
    this.memberId = memberId;
    const install = await fetch(`${this.stack.url}/api/bitrix/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: this.bitrix.installEventBody(memberId),
    });
    if (install.status !== 200) throw new Error(`install failed: ${install.status}`);
    const phone = await this.#admin("POST", "/api/admin/phones", {
      phone: PHONE,
      phoneId: PHONE_ID,
      wabaId: WABA_ID,
      memberId,
      smsService: true,
    });
    if (phone?.connector?.status !== "active")
      throw new Error(`phone not connected: ${JSON.stringify(phone)}`);
    this.lineId = phone.line.id;
  }

  async stop(): Promise<void> {
    await this.stack?.stop().catch(() => undefined);
    await this.meter?.stop();
    await Promise.allSettled([this.meta?.close(), this.bitrix?.close()]);
    this.#sqs?.destroy();
    await this.#stopEmulators?.();
  }

  async #admin(method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${this.stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  snapshot(): Snapshot {
    return {
      aws: this.meter.calls.length,
      invocations: this.invocations.length,
      bitrix: this.bitrix.requests.length,
      graph: this.meta.requests.length,
    };
  }

  postWebhook(payload: unknown): Promise<Response> {
    const body = JSON.stringify(payload);
    return fetch(`${this.stack.url}/api/waba/?app_id=${APP_ID}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-hub-signature-256": signWebhook(body, APP_SECRET) },
      body,
    }).then(async (res) => {
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`webhook refused: ${res.status}`);
      return res;
    });
  }

  /** Both queues empty (nothing visible, nothing in flight), twice in a row — read past the meter. */
  async settled(): Promise<void> {
    const deadline = Date.now() + 180_000;
    let quiet = 0;
    while (quiet < 2) {
      if (Date.now() > deadline) throw new Error("the queues did not drain within 3 minutes");
      await new Promise((r) => setTimeout(r, 400));
      let depth = 0;
      for (const q of this.stack.resources.queues) {
        const out = await (this.#sqs as SQSClient).send(
          new GetQueueAttributesCommand({
            QueueUrl: q.url,
            AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
          }),
        );
        depth +=
          Number(out.Attributes?.ApproximateNumberOfMessages) +
          Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible);
      }
      quiet = depth === 0 ? quiet + 1 : 0;
    }
    // The poller deletes a batch after its handler returns: let the last delete land.
    await new Promise((r) => setTimeout(r, 300));
  }

  figures(before: Snapshot, units: number): LoadFigures {
    const calls = this.meter.calls.slice(before.aws);
    const invocations = this.invocations.slice(before.invocations);
    const per = (n: number) => n / units;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const dynamo = calls.filter((c) => c.service === "dynamodb");
    const sqs = calls.filter((c) => c.service === "sqs" && c.received !== 0);
    const s3 = calls.filter((c) => c.service === "s3");
    const s3Writes = s3.filter((c) => /^(PUT|POST)|GET bucket/.test(c.op)).length;
    const gbSeconds = sum(
      invocations.map((i) => (Math.ceil(i.ms) / 1000) * (functions[i.fn].memoryMb / 1024)),
    );
    const gateway = invocations.filter((i) => HTTP_FUNCTIONS.has(i.fn)).length;
    const writeUnits = sum(dynamo.map((c) => c.writeUnits));
    const readUnits = sum(dynamo.map((c) => c.readUnits));
    const byPrefix = (kind: "reads" | "writes") => {
      const out: Record<string, number> = {};
      for (const c of dynamo) {
        if (!c[kind]) continue;
        const share = c[kind] / Math.max(c.prefixes.length, 1);
        for (const p of c.prefixes) out[p] = (out[p] ?? 0) + share / units;
      }
      return out;
    };
    const usd =
      gateway * PRICES.httpApiRequest +
      invocations.length * PRICES.lambdaRequest +
      gbSeconds * PRICES.lambdaGbSecondArm +
      sqs.length * PRICES.sqsFifoRequest +
      writeUnits * PRICES.dynamoWriteUnit +
      readUnits * PRICES.dynamoReadUnit +
      s3Writes * PRICES.s3WriteRequest +
      (s3.length - s3Writes) * PRICES.s3ReadRequest;
    const bitrix = this.bitrix.requests
      .slice(before.bitrix)
      .filter((r) => r.path.startsWith("/rest/") || r.path.startsWith("/oauth/")).length;
    return {
      units,
      gatewayRequests: per(gateway),
      lambdaInvocations: per(invocations.length),
      lambdaGbSeconds: per(gbSeconds),
      sqsRequests: per(sqs.length),
      dynamoReads: per(sum(dynamo.map((c) => c.reads))),
      dynamoReadUnits: per(readUnits),
      dynamoWrites: per(sum(dynamo.map((c) => c.writes))),
      dynamoWriteUnits: per(writeUnits),
      s3Requests: per(s3.length),
      bitrixCalls: per(bitrix),
      graphCalls: per(this.meta.requests.length - before.graph),
      usdPerMillion: per(usd) * 1e6,
      writesByPrefix: byPrefix("writes"),
      readsByPrefix: byPrefix("reads"),
    };
  }
}

const customer = (run: number, c: number) => `1555${run}30${String(c).padStart(5, "0")}`;

/** 200 texts: 20 customers, 10 each, interleaved as Meta would deliver busy conversations. */
function twoHundredTexts(run: number, tag: string) {
  const out: { id: string; from: string; body: string }[] = [];
  for (let n = 0; n < 10; n++) {
    for (let c = 0; c < CUSTOMERS; c++) {
      out.push({ id: `wamid.${tag}${run}-${c}-${n}`, from: customer(run, c), body: `c${c} #${n}` });
    }
  }
  return out;
}

async function untilDelivered(w: World, prefix: string, count: number): Promise<void> {
  const portal = w.bitrix.portal(w.memberId);
  const deadline = Date.now() + 240_000;
  const seen = () =>
    new Set(portal.messages.filter((m) => String(m.message.id).startsWith(prefix)).map((m) => m.message.id))
      .size;
  while (seen() < count) {
    if (Date.now() > deadline) throw new Error(`only ${seen()}/${count} of ${prefix} reached Bitrix24`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await w.settled();
}

type Load = (w: World, run: number) => Promise<LoadFigures>;

const loads: Record<string, { label: string; unit: string; run: Load }> = {
  inboundText: {
    label: "(a)  inbound text, 1 per webhook, 2/s",
    unit: "message",
    run: async (w, run) => {
      const before = w.snapshot();
      const texts = twoHundredTexts(run, "a");
      const start = Date.now();
      for (const [i, m] of texts.entries()) {
        const due = start + i * 500;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        await w.postWebhook(textsWebhook(NUMBER, [m]));
      }
      await untilDelivered(w, `wamid.a${run}-`, texts.length);
      return w.figures(before, texts.length);
    },
  },
  inboundBurst: {
    label: "(a2) inbound text, 1 per webhook, burst",
    unit: "message",
    run: async (w, run) => {
      const before = w.snapshot();
      const texts = twoHundredTexts(run, "b");
      await Promise.all(texts.map((m) => w.postWebhook(textsWebhook(NUMBER, [m]))));
      await untilDelivered(w, `wamid.b${run}-`, texts.length);
      return w.figures(before, texts.length);
    },
  },
  inboundBatched: {
    label: "(b)  inbound text, 10 per webhook",
    unit: "message",
    run: async (w, run) => {
      const before = w.snapshot();
      const texts = twoHundredTexts(run, "c");
      for (let i = 0; i < texts.length; i += 10)
        await w.postWebhook(textsWebhook(NUMBER, texts.slice(i, i + 10)));
      await untilDelivered(w, `wamid.c${run}-`, texts.length);
      return w.figures(before, texts.length);
    },
  },
  image: {
    label: "(c)  inbound image",
    unit: "image",
    run: async (w, run) => {
      const bytes = Buffer.alloc(200 * 1024, 7);
      for (let i = 0; i < 20; i++) w.meta.addMedia(`88${run}00${i}`, { mimeType: "image/jpeg", bytes });
      const before = w.snapshot();
      for (let i = 0; i < 20; i++) {
        await w.postWebhook(
          imageWebhook(NUMBER, {
            id: `wamid.img${run}-${i}`,
            from: customer(run, i % CUSTOMERS),
            mediaId: `88${run}00${i}`,
          }),
        );
      }
      await untilDelivered(w, `wamid.img${run}-`, 20);
      return w.figures(before, 20);
    },
  },
  operatorText: {
    label: "(e)  operator text",
    unit: "text",
    run: async (w, run) => {
      const before = w.snapshot();
      const sentBefore = w.meta.requests.filter((r) => r.path.endsWith("/messages")).length;
      for (let i = 0; i < 200; i++) {
        const results = await w.bitrix.deliverEvent(w.memberId, "ONIMCONNECTORMESSAGEADD", {
          CONNECTOR: "separator_waba",
          LINE: w.lineId,
          MESSAGES: [
            {
              im: { chat_id: 1807, message_id: 900_000 + run * 1000 + i },
              message: { user_id: 27, text: `answer ${i}` },
              chat: { id: `wa:${customer(run, i % CUSTOMERS)}` },
            },
          ],
        });
        if (results[0]?.status !== 200) throw new Error(`operator event refused: ${JSON.stringify(results)}`);
      }
      const deadline = Date.now() + 120_000;
      while (w.meta.requests.filter((r) => r.path.endsWith("/messages")).length - sentBefore < 200) {
        if (Date.now() > deadline) throw new Error("operator texts did not all reach Meta");
        await new Promise((r) => setTimeout(r, 100));
      }
      await w.settled();
      return w.figures(before, 200);
    },
  },
  status: {
    label: "(d)  status (delivered or read)",
    unit: "status",
    run: async (w, run) => {
      const sent: { wamid: string; to: string }[] = [];
      for (let c = 0; c < CUSTOMERS; c++) {
        for (const m of w.meta.messagesTo(customer(run, c))) sent.push({ wamid: m.wamid, to: m.to });
      }
      const ours = sent.slice(-200);
      const before = w.snapshot();
      for (const s of ours) await w.postWebhook(statusWebhook(NUMBER, s.wamid, "delivered", s.to));
      for (const s of ours) await w.postWebhook(statusWebhook(NUMBER, s.wamid, "read", s.to));
      await w.settled();
      return w.figures(before, ours.length * 2);
    },
  },
  crmSms: {
    label: "(f)  CRM SMS",
    unit: "SMS",
    run: async (w, run) => {
      const code = [...w.bitrix.portal(w.memberId).senders.keys()][0] ?? "";
      const handler = w.bitrix.portal(w.memberId).senders.get(code)?.HANDLER ?? "";
      const before = w.snapshot();
      for (let i = 0; i < 50; i++) {
        const res = await fetch(handler, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: w.bitrix.messageserviceHandlerBody(w.memberId, {
            code,
            messageTo: `+${customer(run, i % CUSTOMERS)}`,
            messageBody: `Your order ${i} is ready`,
          }),
        });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`SMS refused: ${res.status}`);
      }
      await w.settled();
      return w.figures(before, 50);
    },
  },
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function medianFigures(runs: LoadFigures[]): LoadFigures {
  const first = runs[0] as LoadFigures;
  const out = { ...first } as Record<string, unknown>;
  for (const k of Object.keys(first) as (keyof LoadFigures)[]) {
    if (typeof first[k] === "number") out[k] = median(runs.map((r) => r[k] as number));
  }
  return out as unknown as LoadFigures;
}

/** What the deployment costs a month with no traffic: resources billed by the month, and idle polling. */
function idleFromStacks(): { usdPerMonth: number; items: string[] } {
  const app = new App();
  // The deployment the README's deploy command makes: no `-c dashboard=true`, so no dashboard.
  const { stateful, stateless } = buildApp(app, { alarmEmail: "ops@example.com" });
  const assembly = app.synth();
  const types = [stateful, stateless].flatMap((s) =>
    Object.values(
      (assembly.getStackArtifact(s.artifactId).template.Resources ?? {}) as Record<string, { Type: string }>,
    ).map((r) => r.Type),
  );
  const count = (type: string) => types.filter((t) => t === type).length;
  const alarms = count("AWS::CloudWatch::Alarm");
  const dashboards = count("AWS::CloudWatch::Dashboard");
  const secrets = count("AWS::SecretsManager::Secret");
  const keys = count("AWS::KMS::Key");
  const mappings = count("AWS::Lambda::EventSourceMapping");
  const pollRequests =
    mappings * IDLE_POLLERS_PER_MAPPING * IDLE_RECEIVES_PER_POLLER_PER_MINUTE * MINUTES_PER_MONTH;
  const parts: [string, number][] = [
    [`${alarms} alarm(s) × $${PRICES.alarmPerMonth}`, alarms * PRICES.alarmPerMonth],
    [
      `${dashboards} dashboard(s) × $${PRICES.dashboardPerMonth} (-c dashboard=true adds one)`,
      dashboards * PRICES.dashboardPerMonth,
    ],
    [`${secrets} secret(s) × $${PRICES.secretPerMonth}`, secrets * PRICES.secretPerMonth],
    [`${keys} KMS key(s) × $${PRICES.kmsKeyPerMonth}`, keys * PRICES.kmsKeyPerMonth],
    [
      `${mappings} SQS event source(s): ${(pollRequests / 1e6).toFixed(2)} M empty receives`,
      pollRequests * PRICES.sqsFifoRequest,
    ],
  ];
  return {
    usdPerMonth: parts.reduce((n, [, usd]) => n + usd, 0),
    items: parts.map(([what, usd]) => `${what} = $${usd.toFixed(2)}`),
  };
}

const f2 = (n: number) => n.toFixed(2).padStart(7);

function printTable(results: Record<string, LoadFigures>): void {
  const cols = [
    ["gw", "gatewayRequests"],
    ["λ inv", "lambdaInvocations"],
    ["λ GB-s", "lambdaGbSeconds"],
    ["SQS", "sqsRequests"],
    ["DDB rd", "dynamoReads"],
    ["RRU", "dynamoReadUnits"],
    ["DDB wr", "dynamoWrites"],
    ["WRU", "dynamoWriteUnits"],
    ["S3", "s3Requests"],
    ["B24", "bitrixCalls"],
    ["Graph", "graphCalls"],
    ["$/M", "usdPerMillion"],
  ] as const;
  console.log(`\n${"per unit".padEnd(42)}${cols.map(([h]) => h.padStart(8)).join("")}`);
  for (const [name, fig] of Object.entries(results)) {
    const label = loads[name]?.label ?? name;
    console.log(
      `${label.padEnd(42)}${cols.map(([, k]) => (k === "lambdaGbSeconds" ? fig[k].toFixed(4).padStart(8) : f2(fig[k]).padStart(8))).join("")}`,
    );
  }
  console.log("\nDynamoDB items per unit by key prefix (writes | reads)");
  for (const [name, fig] of Object.entries(results)) {
    const fmt = (m: Record<string, number>) =>
      Object.entries(m)
        .sort((a, b) => b[1] - a[1])
        .map(([p, n]) => `${p} ${n.toFixed(2)}`)
        .join(", ") || "none";
    console.log(
      `  ${(loads[name]?.label ?? name).padEnd(40)} ${fmt(fig.writesByPrefix)} | ${fmt(fig.readsByPrefix)}`,
    );
  }
}

/** The functions' metric lines (CloudWatch embedded metric format) are log output: left out, like logs. */
function withoutMetricLines(): void {
  const write = process.stdout.write.bind(process.stdout) as (chunk: unknown, ...rest: unknown[]) => boolean;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) =>
    String(chunk).startsWith('{"_aws"') ? true : write(chunk, ...rest)) as typeof process.stdout.write;
}

async function main(): Promise<void> {
  withoutMetricLines();
  console.log(
    `separator-waba cost — Node ${process.version}, ${new Date().toISOString()}, ${RUNS} run(s), prices of ${PRICES.date}`,
  );
  const w = new World();
  const perRun: Record<string, LoadFigures[]> = {};
  let idleCalls = 0;
  try {
    await w.start();
    for (let run = 1; run <= RUNS; run++) {
      for (const [name, load] of Object.entries(loads)) {
        const figures = await load.run(w, run);
        perRun[name] = [...(perRun[name] ?? []), figures];
        console.log(`  run ${run} ${load.label.padEnd(42)} ${figures.usdPerMillion.toFixed(2)} $/M`);
      }
    }
    await w.settled();
    const before = w.snapshot();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    idleCalls = w.meter.calls
      .slice(before.aws)
      .filter((c) => !(c.service === "sqs" && c.received === 0)).length;
  } finally {
    await w.stop();
  }
  const results = Object.fromEntries(Object.entries(perRun).map(([k, runs]) => [k, medianFigures(runs)]));
  printTable(results);
  const ordered = [
    "inboundText",
    "inboundBurst",
    "inboundBatched",
    "image",
    "status",
    "operatorText",
    "crmSms",
  ];
  const outboundWithStatuses =
    (results.operatorText?.usdPerMillion ?? 0) + 2 * (results.status?.usdPerMillion ?? 0);
  console.log(
    `\noutbound text with its delivered and read statuses: $${outboundWithStatuses.toFixed(2)} per million`,
  );
  const idle = idleFromStacks();
  // Work the stack did on its own while idle (anything but the pollers' empty receives), per month.
  const idleWorkUsd = (idleCalls / IDLE_SECONDS) * 60 * MINUTES_PER_MONTH * PRICES.dynamoWriteUnit;
  const idleUsd = idle.usdPerMonth + idleWorkUsd;
  console.log(`\n(g)  idle ${IDLE_SECONDS} s: ${idleCalls} AWS request(s) besides empty polls`);
  for (const item of idle.items) console.log(`     ${item}`);
  console.log(`     idle total $${idleUsd.toFixed(2)} per month`);
  const loadsOut = Object.fromEntries(
    ordered.filter((k) => results[k]).map((k) => [k, round(results[k] as LoadFigures)]),
  );
  writeFileSync(
    new URL("cost.json", import.meta.url),
    `${JSON.stringify({ loads: loadsOut, outboundTextWithStatusesUsdPerMillion: round2(outboundWithStatuses), idleUsdPerMonth: round2(idleUsd), pricesDate: PRICES.date, runs: RUNS }, null, 2)}\n`,
  );
  console.log("\nwritten to bench/cost.json");
}

const round2 = (n: number) => Math.round(n * 100) / 100;

function round(f: LoadFigures): LoadFigures {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) {
    if (typeof v === "number") out[k] = k === "lambdaGbSeconds" ? Math.round(v * 1e5) / 1e5 : round2(v);
    else
      out[k] = Object.fromEntries(
        Object.entries(v as Record<string, number>).map(([p, n]) => [p, round2(n)]),
      );
  }
  return out as unknown as LoadFigures;
}

await main();
