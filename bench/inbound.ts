/**
 * `npm run bench`, inbound section — the whole system end to end on this machine, printing numbers and
 * asserting nothing: the local stack (own DynamoDB Local + fauxqs, in memory, the handler modules Lambda
 * runs, the queue pollers) against the loopback fakes of Meta and Bitrix24, configured the way
 * test/support/world.ts does it (Meta app, WABA, Bitrix24 app installed on a portal, a phone on its line).
 *
 *  1. Enterprise portal (Bitrix24: 5 req/s, burst 250), the targets' loads: a burst of 100
 *     single-message text webhooks, signed like Meta and posted all at once, from 20 customers (5 each),
 *     then a burst of 100 from one customer (one conversation); each waits until the fake portal has them.
 *     Targets: ≥ 100 messages/s through to the fake, ≤ 0.2 Bitrix24 calls per message. A warm-up of 20
 *     messages goes first (the first of a fresh process pay for compiling the code), not measured.
 *  2. The same portal, posted one after another (each post waits for the previous answer): 200 from 20
 *     customers, and 100 from one customer. No target: a conversation's next message arrives only after
 *     the previous one was accepted, so it can share a call only with what queued behind the call in
 *     flight (an SQS FIFO event source has no batching window to wait for more, and hands a worker at
 *     most 10 records: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html).
 *  3. Standard portal (2 req/s, burst 50): 80 messages one after another, so the pacing shows.
 *
 * Both fake portals also enforce that budget themselves (leaky bucket, 503 QUERY_LIMIT_EXCEEDED past
 * the burst), armed after the set-up phase, so a request over budget would show as a refusal.
 * AWS SDK requests (node:http) are counted per operation through diagnostics_channel, to show where
 * the worker's time goes; fetch (the bench's posts, the product's Bitrix24 calls) is not on that channel.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { ClientRequest } from "node:http";
import { type LocalStack, startLocalStack } from "../local/stack.ts";
import { type BitrixFake, type QueryLimit, startBitrixFake } from "../test/fakes/bitrix24.ts";
import { type MetaGraphFake, signWebhook, startMetaGraphFake } from "../test/fakes/meta-graph.ts";
import { textsWebhook } from "./webhooks.ts";

const ADMIN_TOKEN = "bench-admin-token-not-a-secret";
const ENCRYPTION_KEY = "bench-encryption-key-material-0123456789";
const APP_ID = "2222";
const APP_SECRET = "app-secret-bench-0001";
const WABA_ID = "102290129340398";
const WABA_TOKEN = "EAAG-bench-waba-token";
const CLIENT_ID = "local.bench00000000.00000001";
const CLIENT_SECRET = "bench-bitrix-client-secret";
const POLLER_CONCURRENCY = 2;
const DELIVERY_WAIT_MS = 120_000;

/** Each pass its own customers: a number series per pass tag. */
const SERIES: Record<string, number> = { ent: 1, std: 2, burst: 3, one: 4, "burst-one": 5, warm: 6 };

const ENTERPRISE: QueryLimit = { perSecond: 5, burst: 250 };
const STANDARD: QueryLimit = { perSecond: 2, burst: 50 };

interface Line {
  readonly label: string;
  readonly memberId: string;
  readonly phoneId: string;
  readonly displayPhone: string;
  readonly limit: QueryLimit;
}

interface PassResult {
  readonly delivered: number;
  readonly seconds: number;
}

const ms = (n: number) => `${n.toFixed(1)} ms`;

/** Counts the AWS SDK's HTTP requests (DynamoDB Local, fauxqs) by operation, with their round-trip time. */
class AwsMeter {
  readonly #hosts: Map<string, string>;
  readonly #started = new WeakMap<ClientRequest, number>();
  calls: { service: string; op: string; ms: number }[] = [];
  readonly #onStart = (message: unknown) => {
    this.#started.set((message as { request: ClientRequest }).request, performance.now());
  };
  readonly #onFinish = (message: unknown) => {
    const { request } = message as { request: ClientRequest };
    const t0 = this.#started.get(request);
    const service = this.#hosts.get(String(request.getHeader("host")));
    if (t0 === undefined || !service) return;
    const target = String(request.getHeader("x-amz-target") ?? "");
    const op = target ? target.slice(target.indexOf(".") + 1) : `${request.method} ${request.path}`;
    this.calls.push({ service, op, ms: performance.now() - t0 });
  };

  constructor(endpoints: { dynamoEndpoint: string; awsEndpoint: string }) {
    this.#hosts = new Map([
      [new URL(endpoints.dynamoEndpoint).host, "DynamoDB"],
      [new URL(endpoints.awsEndpoint).host, "SQS/S3"],
    ]);
    subscribe("http.client.request.start", this.#onStart);
    subscribe("http.client.response.finish", this.#onFinish);
  }

  /** "9.0 per message (GetItem 4.00, PutItem 4.00 …), mean round trip 11.2 ms" for one service. */
  summary(service: string, messages: number): string {
    const calls = this.calls.filter((c) => c.service === service);
    const byOp = new Map<string, number>();
    for (const c of calls) byOp.set(c.op, (byOp.get(c.op) ?? 0) + 1);
    const ops = [...byOp]
      .sort((a, b) => b[1] - a[1])
      .map(([op, n]) => `${op} ${(n / messages).toFixed(2)}`)
      .join(", ");
    // A long poll's time is mostly waiting for messages, not work: left out of the mean.
    const timed = calls.filter((c) => c.op !== "ReceiveMessage");
    const mean = timed.reduce((t, c) => t + c.ms, 0) / Math.max(timed.length, 1);
    return `${(calls.length / messages).toFixed(1)} per message (${ops}), mean round trip ${ms(mean)}${timed.length < calls.length ? " (long polls excluded)" : ""}`;
  }

  close(): void {
    unsubscribe("http.client.request.start", this.#onStart);
    unsubscribe("http.client.response.finish", this.#onFinish);
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function admin(stack: LocalStack, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} failed: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** A Bitrix24 portal with the app installed (install event to our handler) and one phone connected on it. */
async function addLine(
  stack: LocalStack,
  bitrix: BitrixFake,
  label: string,
  licenseFamily: string | undefined,
  limit: QueryLimit,
  phoneId: string,
  phone: string,
): Promise<Line> {
  const { memberId } = bitrix.addPortal({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    installed: true,
    ...(licenseFamily ? { licenseFamily } : {}),
  });
  const install = await fetch(`${stack.url}/api/bitrix/`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: bitrix.installEventBody(memberId),
  });
  if (install.status !== 200) throw new Error(`install failed: ${install.status} ${await install.text()}`);
  const added = await admin(stack, "POST", "/api/admin/phones", {
    phone,
    phoneId,
    wabaId: WABA_ID,
    memberId,
    smsService: true,
  });
  if (added?.connector?.status !== "active") throw new Error(`phone not connected: ${JSON.stringify(added)}`);
  return { label, memberId, phoneId, displayPhone: phone.slice(1), limit };
}

function textWebhook(line: Line, m: { id: string; from: string; body: string }): string {
  return JSON.stringify(
    textsWebhook({ wabaId: WABA_ID, phoneId: line.phoneId, displayPhone: line.displayPhone }, [m]),
  );
}

async function runPass(
  stack: LocalStack,
  bitrix: BitrixFake,
  line: Line,
  tag: string,
  customers: number,
  perCustomer: number,
  pollerLog: string[],
  meter: AwsMeter,
  /** Post every webhook at once (a burst) instead of one after another. */
  burst = false,
  /** Print the figures (a warm-up pass prints one line). */
  report = true,
): Promise<PassResult> {
  const total = customers * perCustomer;
  // Round-robin over customers, as Meta would interleave busy conversations.
  const sent: { id: string; from: string; body: string }[] = [];
  for (let n = 0; n < perCustomer; n++) {
    for (let c = 0; c < customers; c++) {
      sent.push({
        id: `wamid.${tag}-${c}-${n}`,
        from: `1555${SERIES[tag] ?? 9}00${String(c).padStart(5, "0")}`,
        body: `c${c} #${n}`,
      });
    }
  }
  const portal = bitrix.portal(line.memberId);
  const ours = () => portal.messages.filter((m) => String(m.message.id).startsWith(`wamid.${tag}-`));
  const requestsBefore = bitrix.requests.length;
  const callsBefore = bitrix.callCount(undefined, line.memberId);
  const logBefore = pollerLog.length;
  // Bitrix24's own meter for this portal, from empty, only now: the set-up calls are not the run's.
  bitrix.queryLimit(line.memberId, line.limit);

  meter.calls = [];
  const acceptedAt = new Map<string, number>();
  const latencies: number[] = [];
  const rejected: string[] = [];
  const start = performance.now();
  const startEpoch = Date.now();
  const post = async (m: { id: string; from: string; body: string }) => {
    const body = textWebhook(line, m);
    const t0 = performance.now();
    const res = await fetch(`${stack.url}/api/waba/?app_id=${APP_ID}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-hub-signature-256": signWebhook(body, APP_SECRET) },
      body,
    });
    await res.arrayBuffer();
    latencies.push(performance.now() - t0);
    if (res.status !== 200) rejected.push(`${m.id}: ${res.status}`);
    acceptedAt.set(m.id, Date.now());
  };
  if (burst) await Promise.all(sent.map(post));
  else for (const m of sent) await post(m);
  const postedSeconds = (performance.now() - start) / 1000;

  const deadline = Date.now() + DELIVERY_WAIT_MS;
  const unique = () => new Set(ours().map((m) => String(m.message.id))).size;
  while (unique() < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const deliveries = ours();
  const firstDelivery = new Map<string, number>();
  for (const d of deliveries) {
    const id = String(d.message.id);
    if (!firstDelivery.has(id)) firstDelivery.set(id, d.at);
  }
  const delivered = firstDelivery.size;
  const lastAt = Math.max(startEpoch, ...firstDelivery.values());
  const seconds = (lastAt - startEpoch) / 1000;
  const queueLatencies = [...firstDelivery].map(([id, at]) => at - (acceptedAt.get(id) ?? at));

  // The poller logs a batch after deleting it, i.e. just after its deliveries: let the last lines land.
  const batchLines = () => pollerLog.slice(logBefore).filter((l) => l.startsWith("inbound-worker:"));
  const recordsIn = (lines: string[]) =>
    lines.reduce((n, l) => n + Number(/: (\d+) record/.exec(l)?.[1] ?? 0), 0);
  const settle = Date.now() + 3_000;
  while (recordsIn(batchLines()) < delivered && Date.now() < settle)
    await new Promise((r) => setTimeout(r, 20));
  // Taken once the last batch is deleted; ReceiveMessage includes the pollers' empty long polls.
  const aws = {
    dynamo: meter.summary("DynamoDB", Math.max(delivered, 1)),
    sqs: meter.summary("SQS/S3", Math.max(delivered, 1)),
  };

  // Every HTTP request the fake portal received for a REST method during the run (retries included).
  const rest = bitrix.requests.slice(requestsBefore).filter((r) => r.path.startsWith("/rest/"));
  const byMethod = new Map<string, number>();
  for (const r of rest) {
    const method = r.path.slice("/rest/".length).replace(/\.json$/i, "");
    byMethod.set(method, (byMethod.get(method) ?? 0) + 1);
  }
  const oauth = bitrix.requests.slice(requestsBefore).filter((r) => r.path.startsWith("/oauth/")).length;
  // REST requests the fake refused before running the method (rate limit, token) — no batch is used.
  const refused = rest.length - (bitrix.callCount(undefined, line.memberId) - callsBefore);
  const batches = batchLines();
  const records = recordsIn(batches);
  const failed = batches.reduce((n, l) => n + Number(/, (\d+) failed/.exec(l)?.[1] ?? 0), 0);

  const rate = delivered / Math.max(seconds, 1e-9);
  if (!report) {
    console.log(`  warm-up: ${delivered}/${total} messages delivered (not measured)`);
    return { delivered, seconds };
  }
  console.log(
    `  ${line.label}: ${total} single-message text webhooks from ${customers} customer(s) (${perCustomer} each)${burst ? ", posted as one burst" : ""}`,
  );
  console.log(
    `    webhook accept (${burst ? "all at once" : "sequential"})  p50 ${ms(percentile(latencies, 50))}  p95 ${ms(percentile(latencies, 95))}  max ${ms(Math.max(...latencies))}   all posted in ${postedSeconds.toFixed(2)} s${rejected.length ? `   NOT accepted: ${rejected.length} (${rejected.slice(0, 3).join(", ")})` : ""}`,
  );
  console.log(
    `    delivered ${delivered}/${total}${delivered < total ? ` (gave up after ${DELIVERY_WAIT_MS / 1000} s)` : ""} in ${seconds.toFixed(2)} s, first post → last delivery: ${rate.toFixed(1)} messages/s${burst ? " (target ≥ 100)" : ""}` +
      `${deliveries.length > delivered ? `   (${deliveries.length - delivered} duplicate deliveries)` : ""}`,
  );
  console.log(
    `    accept → delivery per message  p50 ${ms(percentile(queueLatencies, 50))}  p95 ${ms(percentile(queueLatencies, 95))}  max ${ms(Math.max(...queueLatencies))}`,
  );
  console.log(
    `    worker: ${batches.length} SQS batches, ${records} records (${failed} failed and retried), ${POLLER_CONCURRENCY} pollers`,
  );
  console.log(`    DynamoDB requests ${aws.dynamo}`);
  console.log(`    SQS requests ${aws.sqs}`);
  const perMessage = rest.length / Math.max(delivered, 1);
  const methods = [...byMethod].sort((a, b) => b[1] - a[1]).map(([m, n]) => `${m} ×${n}`);
  console.log(
    `    Bitrix24 REST calls per inbound text message ${perMessage.toFixed(2)}${burst ? " (target ≤ 0.2)" : " (no target: posted one after another)"}: ${rest.length} HTTP requests / ${delivered} delivered — ${methods.join(", ") || "none"}` +
      `${oauth ? `; plus ${oauth} OAuth token request(s)` : ""}`,
  );
  console.log(
    `    requests the portal refused (QUERY_LIMIT_EXCEEDED or token; counted above): ${refused}; Bitrix24 budget ${line.limit.perSecond} req/s, burst ${line.limit.burst}`,
  );
  return { delivered, seconds };
}

/** Prints the end-to-end inbound numbers; starts and stops everything it needs. */
export async function inboundBench(): Promise<void> {
  console.log(
    `\nInbound end to end (local stack in memory: DynamoDB Local + fauxqs, gateway, ${POLLER_CONCURRENCY} pollers per queue; loopback Meta and Bitrix24 fakes)`,
  );
  const setupStart = performance.now();
  let meta: MetaGraphFake | undefined;
  let bitrix: BitrixFake | undefined;
  let stack: LocalStack | undefined;
  let meter: AwsMeter | undefined;
  const pollerLog: string[] = [];
  try {
    meta = await startMetaGraphFake();
    meta.addToken(WABA_TOKEN);
    bitrix = await startBitrixFake();
    stack = await startLocalStack({
      port: 0,
      adminToken: ADMIN_TOKEN,
      encryptionKey: ENCRYPTION_KEY,
      visibilityTimeoutSeconds: 10,
      pollWaitSeconds: 1,
      pollerConcurrency: POLLER_CONCURRENCY,
      env: {
        GRAPH_API_BASE_URL: meta.url,
        BITRIX_OAUTH_URL: bitrix.oauthUrl,
        LOG_LEVEL: "warn",
        RETRY_BASE_SECONDS: "1",
        RETRY_MAX_SECONDS: "2",
      },
      // Gateway lines (one per request) are dropped; the pollers' batch lines are counted.
      log: (line) => {
        if (line.startsWith("inbound-worker:")) pollerLog.push(line);
      },
    });
    meter = new AwsMeter(stack.endpoints);
    await admin(stack, "POST", "/api/admin/apps", { appId: APP_ID, name: "Shop", appSecret: APP_SECRET });
    await admin(stack, "POST", "/api/admin/wabas", {
      wabaId: WABA_ID,
      name: "Main",
      appId: APP_ID,
      accessToken: WABA_TOKEN,
    });
    await admin(stack, "POST", "/api/admin/bitrix-apps", {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
    });
    const ent = await addLine(
      stack,
      bitrix,
      "Enterprise portal",
      "ent",
      ENTERPRISE,
      "106540352242922",
      "+15550783881",
    );
    const std = await addLine(
      stack,
      bitrix,
      "Standard portal",
      undefined,
      STANDARD,
      "106540352242933",
      "+15550783882",
    );
    console.log(
      `  set-up ${((performance.now() - setupStart) / 1000).toFixed(1)} s (emulators, app, WABA, Bitrix24 app, 2 portals installed, 2 phones connected; not measured below)`,
    );

    console.log(
      "  rate budget applies: Enterprise portal = Bitrix24's 5 req/s with burst 250 (requests; one call can carry several conversations' messages)",
    );
    // The first messages of a fresh process pay for compiling the handlers' code, which a warm Lambda
    // has done: a few go through first.
    await runPass(stack, bitrix, ent, "warm", 20, 1, pollerLog, meter, true, false);
    // The targets' loads (≥ 100 messages/s, ≤ 0.2 Bitrix24 calls per message): a burst of 100 from many
    // conversations, then a burst of 100 from one.
    await runPass(stack, bitrix, ent, "burst", 20, 5, pollerLog, meter, true);
    await runPass(stack, bitrix, ent, "burst-one", 1, 100, pollerLog, meter, true);
    console.log("  posted one after another (each post waits for the previous answer; no target):");
    await runPass(stack, bitrix, ent, "ent", 20, 10, pollerLog, meter);
    await runPass(stack, bitrix, ent, "one", 1, 100, pollerLog, meter);

    console.log(
      "  rate budget applies: Standard portal = 2 req/s with burst 50 (requests; one call can carry several conversations' messages)",
    );
    await runPass(stack, bitrix, std, "std", 20, 4, pollerLog, meter);
  } finally {
    meter?.close();
    await stack?.stop().catch((error: unknown) => console.log(`  stopping the stack failed: ${error}`));
    await Promise.allSettled([meta?.close(), bitrix?.close()]);
  }
}
