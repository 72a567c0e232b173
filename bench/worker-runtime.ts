/**
 * `node bench/worker-runtime.ts` — how long one queue worker invocation runs in the worst cases the
 * client timeouts allow, which is what the workers' function timeouts (shared/resources.ts) are chosen
 * from. Prints numbers, asserts nothing. The local stack (own emulators, in memory, the handler modules
 * Lambda runs) against the loopback fakes, at the default HTTP_TIMEOUT_MS; each case sends a batch of 10
 * and, while its fault lasts, records the longest inbound- or outbound-worker invocation.
 *
 * "Hangs" never answers, so each call lasts its full timeout. "Slowly" answers QUERY_LIMIT_EXCEEDED just
 * before the client gives up (timeout − 0.5 s), so the client's own limit retries also run inside the
 * invocation (Bitrix24 refuses over-limit calls at once; this is the pathological bound). The local stack
 * does not stop a handler at its timeout, so what is printed is what the work needs, not what Lambda allows.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { loadConfig } from "#shared/config.ts";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { type FunctionName, functions, queueConsumedBy } from "#shared/resources.ts";
import { startEmulators } from "../local/emulators.ts";
import { startLocalStack } from "../local/stack.ts";
import { startBitrixFake } from "../test/fakes/bitrix24.ts";
import { type Fault, startHttpFake } from "../test/fakes/http-fake.ts";
import { signWebhook, startMetaGraphFake } from "../test/fakes/meta-graph.ts";
import {
  APP_ID,
  APP_SECRET,
  connectBusiness,
  PHONE,
  PHONE_ID,
  WABA_ID,
  WABA_TOKEN,
} from "../test/support/world.ts";
import { imageWebhook, textsWebhook } from "./webhooks.ts";

const number = { wabaId: WABA_ID, phoneId: PHONE_ID, displayPhone: PHONE.replace(/^\+/, "") };

const emulators = await startEmulators();
const meta = await startMetaGraphFake();
meta.addToken(WABA_TOKEN);
const bitrix = await startBitrixFake();
// Where operators' files are fetched from (Bitrix24's `link`), as in test/integration/operator-files.test.ts.
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(4096, 7)]);
const files = await startHttpFake(() => ({ status: 200, body: JPEG }));
const longest = new Map<FunctionName, number>();
let recording = false;
const stack = await startLocalStack({
  port: 0,
  emulators,
  prefix: "rt-",
  adminToken: "bench-admin-token-not-a-secret",
  encryptionKey: "bench-encryption-key-material-0123456789",
  env: {
    GRAPH_API_BASE_URL: meta.url,
    BITRIX_OAUTH_URL: bitrix.oauthUrl,
    LOG_LEVEL: "error",
    // The batch after the fault drains at once; the measured invocation is the one during the fault.
    RETRY_BASE_SECONDS: "1",
    RETRY_MAX_SECONDS: "1",
  },
  log: () => undefined,
  onInvoke: (name, durationMs) => {
    if (recording) longest.set(name, Math.max(longest.get(name) ?? 0, durationMs));
  },
});
// The stack has set the environment Lambda would give the workers: read their HTTP timeout from it.
const timeoutMs = loadConfig().HTTP_TIMEOUT_MS;
const SLOW = timeoutMs - 500;
const admin = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
};
const memberId = await connectBusiness({ url: stack.url, admin }, bitrix);
const portal = bitrix.portal(memberId);
const lineId = (await admin("GET", `/api/admin/phones/${PHONE_ID}`)).body.line.id;

async function postWebhook(payload: unknown): Promise<void> {
  const body = JSON.stringify(payload);
  const res = await fetch(`${stack.url}/api/waba/?app_id=${APP_ID}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": signWebhook(body, APP_SECRET) },
    body,
  });
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
}

let series = 0;
async function measure(
  label: string,
  worker: FunctionName,
  faults: { bitrix?: Fault[]; meta?: Fault[] },
  send: (tag: string) => Promise<() => boolean>,
): Promise<void> {
  // `CASE=upload node bench/worker-runtime.ts` runs only the cases whose label contains it.
  if (process.env.CASE && !label.includes(process.env.CASE)) return;
  series += 1;
  longest.clear();
  recording = true;
  for (const f of faults.bitrix ?? []) bitrix.inject(f);
  for (const f of faults.meta ?? []) meta.inject(f);
  const done = await send(`s${series}`);
  // The fault lasts one worst-case batch; then the fakes answer normally and the batch drains.
  await sleep(5 * timeoutMs);
  bitrix.reset();
  meta.reset();
  const until = Date.now() + 180_000;
  while (!done() && Date.now() < until) await sleep(250);
  recording = false;
  const ms = longest.get(worker) ?? 0;
  console.log(
    `  ${label.padEnd(72)} ${(ms / 1000).toFixed(1).padStart(5)} s${done() ? "" : "  (not all delivered)"}`,
  );
}

const arrivedAll = (ids: string[]) => () => {
  const seen = new Set(portal.messages.map((m) => String(m.message.id)));
  return ids.every((id) => seen.has(id));
};
const texts = async (tag: string, customers: number) => {
  const batch = Array.from({ length: 10 }, (_, i) => ({
    id: `wamid.rt-${tag}-${i}`,
    from: `1555090${String(series).padStart(2, "0")}${String(i % customers).padStart(2, "0")}`,
    body: `text ${i}`,
  }));
  await postWebhook(textsWebhook(number, batch));
  return arrivedAll(batch.map((m) => m.id));
};
const images = async (tag: string) => {
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) {
    const mediaId = `77${series}00${i}`;
    meta.addMedia(mediaId, { mimeType: "image/jpeg", bytes: Buffer.alloc(2048, i) });
    const id = `wamid.rt-${tag}-${i}`;
    ids.push(id);
    await postWebhook(
      imageWebhook(number, { id, from: `1555091${String(series).padStart(2, "0")}${i}`, mediaId }),
    );
  }
  return arrivedAll(ids);
};
const operatorCustomer = (i: number) => `1555092${String(i).padStart(2, "0")}`;
const operatorSends = async (tag: string, withFile: boolean) => {
  const before = meta.sentMessages.length;
  for (let i = 0; i < 10; i++) {
    const text = `op ${tag} ${i}`;
    await bitrix.deliverEvent(memberId, "ONIMCONNECTORMESSAGEADD", {
      CONNECTOR: CONNECTOR_ID,
      LINE: lineId,
      MESSAGES: [
        {
          im: { chat_id: 1900 + series, message_id: series * 100 + i },
          message: {
            user_id: 27,
            ...(withFile
              ? { text: "", files: [{ name: `p${i}.jpg`, type: "image", link: `${files.url}/d/${tag}${i}` }] }
              : { text }),
          },
          chat: { id: `wa:${operatorCustomer(i)}` },
        },
      ],
    });
  }
  return () => meta.sentMessages.length - before >= 10;
};

const sendCall = (req: { path: string }) => req.path.endsWith("imconnector.send.messages");
const limit = {
  status: 503,
  body: { error: "QUERY_LIMIT_EXCEEDED", error_description: "Too many requests" },
};
const always = Number.POSITIVE_INFINITY;

console.log(`Longest worker invocation for a batch of 10 (HTTP_TIMEOUT_MS ${timeoutMs}):`);
for (const name of ["inbound-worker", "outbound-worker"] as const) {
  const queue = queueConsumedBy(name);
  console.log(
    `  (${name}: timeout ${functions[name].timeoutSeconds} s, takes no record with less than` +
      ` ${queue.stopTakingRecordsWithinSeconds} s left; queue visibility ${queue.visibilityTimeoutSeconds} s)`,
  );
}
await measure(
  "inbound: 10 texts, 10 customers, every Bitrix24 send hangs",
  "inbound-worker",
  {
    bitrix: [{ match: sendCall, times: always, response: { timeout: true } }],
  },
  (tag) => texts(tag, 10),
);
await measure(
  "inbound: 10 texts, 1 customer, every Bitrix24 send hangs",
  "inbound-worker",
  {
    bitrix: [{ match: sendCall, times: always, response: { timeout: true } }],
  },
  (tag) => texts(tag, 1),
);
await measure(
  "inbound: 10 texts, 10 customers, QUERY_LIMIT_EXCEEDED slowly, every try",
  "inbound-worker",
  {
    bitrix: [{ match: sendCall, times: always, response: { ...limit, delayMs: SLOW } }],
  },
  (tag) => texts(tag, 10),
);
await measure(
  "inbound: 10 images, every media download hangs",
  "inbound-worker",
  {
    meta: [{ match: "/whatsapp_business/attachments", times: always, response: { timeout: true } }],
  },
  (tag) => images(tag),
);
await measure(
  "inbound: 10 images, media look-up hangs",
  "inbound-worker",
  {
    meta: [{ match: (req) => /\/77\d+$/.test(req.path), times: always, response: { timeout: true } }],
  },
  (tag) => images(tag),
);
// Each customer writes first, so the 24-hour window is open for free text.
const openings = Array.from({ length: 10 }, (_, i) => ({
  id: `wamid.rt-open-${i}`,
  from: operatorCustomer(i),
  body: "hi",
}));
await postWebhook(textsWebhook(number, openings));
for (const until = Date.now() + 60_000; !arrivedAll(openings.map((o) => o.id))() && Date.now() < until; )
  await sleep(250);
await measure(
  "outbound: 10 operator texts, every Graph send hangs",
  "outbound-worker",
  {
    meta: [{ match: (req) => req.path.endsWith("/messages"), times: always, response: { timeout: true } }],
  },
  (tag) => operatorSends(tag, false),
);
await measure(
  "outbound: 10 operator files, every upload to Meta hangs",
  "outbound-worker",
  {
    meta: [
      {
        match: (req) => req.method === "POST" && req.path.endsWith("/media"),
        times: always,
        response: { timeout: true },
      },
    ],
  },
  (tag) => operatorSends(tag, true),
);

await stack.stop();
await Promise.all([meta.close(), bitrix.close(), files.close()]);
await emulators.stop();
