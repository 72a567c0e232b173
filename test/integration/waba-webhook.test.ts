import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetQueueAttributesCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDocumentClient } from "#shared/adapters/dynamodb/store.ts";
import { makeSqsClient } from "#shared/adapters/sqs/fifo-queue.ts";
import { getRuntime } from "#shared/runtime.ts";
import { type MetaGraphFake, signWebhook, startMetaGraphFake } from "../fakes/meta-graph.ts";
import { fixtureText } from "../fixtures.ts";
import { metricLines } from "../support/metric-lines.ts";
import { eventually, startTestStack, type TestStack } from "../support/stack.ts";

const TEXT_WEBHOOK = fixtureText("meta/webhook_text.json");
const WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";
const SECRET = "app-secret-one-0001";
const TOKEN = "EAAG-waba-token-valid";

let stack: TestStack;
let meta: MetaGraphFake;

beforeAll(async () => {
  meta = await startMetaGraphFake();
  meta.addToken(TOKEN);
  stack = await startTestStack({ GRAPH_API_BASE_URL: meta.url });
});

afterAll(async () => {
  await stack?.stop();
  await meta?.close();
});

const db = () => makeDocumentClient(new DynamoDBClient({}));

async function storedEvents(): Promise<Record<string, any>[]> {
  const out = await db().send(
    new ScanCommand({
      TableName: stack.resources.tableName,
      FilterExpression: "begins_with(pk, :p)",
      ExpressionAttributeValues: { ":p": "EVT#" },
      ConsistentRead: true,
    }),
  );
  return out.Items ?? [];
}

/**
 * The ids of the messages the inbound worker had: stored as given up on (the number has no portal), or
 * parked as dead letters behind the first of their conversation, which holds it.
 */
async function reachedWorker(): Promise<Set<string>> {
  const ids = new Set((await storedEvents()).map((e) => String(e.pk).replace(/^EVT#msg:/, "")));
  for (const letter of (await (await getRuntime()).deadLetters.list(undefined, 1000)).items) {
    const id = (JSON.parse(letter.body) as { id?: string }).id;
    if (id?.startsWith("msg:")) ids.add(id.slice("msg:".length));
  }
  return ids;
}

async function queueDepth(): Promise<number> {
  const queue = stack.resources.queues[0]!;
  const out = await makeSqsClient().send(
    new GetQueueAttributesCommand({
      QueueUrl: queue.url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

/**
 * Waits until earlier tests' messages have left the queue (a worker records an event before its message
 * is deleted), so a depth read afterwards counts only what the request under test enqueued.
 */
async function drained(): Promise<void> {
  await eventually(async () => ((await queueDepth()) === 0 ? true : undefined));
}

function post(body: string, signature: string | undefined, query = "", host?: string) {
  return fetch(`${stack.url}/api/waba/${query}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(signature ? { "x-hub-signature-256": signature } : {}),
      ...(host ? { "x-forwarded-host": host } : {}),
    },
    body,
  });
}

describe("admin API: apps and WABAs", () => {
  it("refuses requests without the admin token", async () => {
    const res = await fetch(`${stack.url}/api/admin/apps`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.code).toBe("unauthorized");
    const wrong = await fetch(`${stack.url}/api/admin/apps`, { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
  });

  it("creates an app, shows its verify token and webhook URLs, never its secret", async () => {
    const res = await stack.admin("POST", "/api/admin/apps", {
      appId: "1111",
      name: "Shop",
      appSecret: SECRET,
      domains: ["Shop.Example.com"],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      appId: "1111",
      domains: ["shop.example.com"],
      graphApiVersion: "v25.0",
    });
    expect(res.body.verifyToken).toMatch(/^[\w-]{32}$/);
    expect(res.body.webhookUrls).toContain(`${stack.url}/api/waba/?app_id=1111`);
    expect(JSON.stringify(res.body)).not.toContain(SECRET);
    const list = await stack.admin("GET", "/api/admin/apps");
    expect(list.body.items.map((a: any) => a.appId)).toContain("1111");
    expect(JSON.stringify(list.body)).not.toContain(SECRET);
  });

  it("answers 409 for a known app id and 400 with zod details for bad input", async () => {
    const dup = await stack.admin("POST", "/api/admin/apps", { appId: "1111", name: "x", appSecret: SECRET });
    expect(dup.status).toBe(409);
    const bad = await stack.admin("POST", "/api/admin/apps", { appId: "abc", name: "", appSecret: "s" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: any) => d.path[0])).toEqual(
      expect.arrayContaining(["appId", "name", "appSecret"]),
    );
    const malformed = await fetch(`${stack.url}/api/admin/apps`, {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token-not-a-secret", "content-type": "application/json" },
      body: "{not json",
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as any).error.message).toMatch(/JSON/);
  });

  it("creates a WABA, subscribes the app with the WABA's token and shows the app's verify token", async () => {
    const app = await stack.admin("GET", "/api/admin/apps/1111");
    const res = await stack.admin("POST", "/api/admin/wabas", {
      wabaId: "102290129340398",
      name: "Main",
      appId: "1111",
      accessToken: TOKEN,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ subscribed: true, subscribeError: null, tokenStatus: "valid" });
    expect(res.body.verifyToken).toBe(app.body.verifyToken);
    expect(JSON.stringify(res.body)).not.toContain(TOKEN);
    const calls = meta.requestsTo(/\/v25\.0\/102290129340398\/subscribed_apps$/);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.method).toBe("POST");
    expect(calls[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const list = await stack.admin("GET", "/api/admin/wabas");
    expect(list.body.items[0].verifyToken).toBe(app.body.verifyToken);
  });

  it("flags a token Meta rejects with 190 and clears the flag when a valid one is patched in", async () => {
    const res = await stack.admin("POST", "/api/admin/wabas", {
      wabaId: "2222",
      name: "Expired",
      appId: "1111",
      accessToken: "EAAG-expired-temporary",
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ subscribed: false, tokenStatus: "invalid" });
    expect(res.body.subscribeError.code).toBe(190);
    const fixed = await stack.admin("PATCH", "/api/admin/wabas/2222", { accessToken: TOKEN });
    expect(fixed.status).toBe(200);
    expect(fixed.body).toMatchObject({ subscribed: true, tokenStatus: "valid", subscribeError: null });
  });

  it("rejects a WABA of an unknown app with 400 naming appId, and a duplicate with 409", async () => {
    const res = await stack.admin("POST", "/api/admin/wabas", {
      wabaId: "3",
      name: "x",
      appId: "9",
      accessToken: TOKEN,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/appId/);
    const dup = await stack.admin("POST", "/api/admin/wabas", {
      wabaId: "2222",
      name: "x",
      appId: "1111",
      accessToken: TOKEN,
    });
    expect(dup.status).toBe(409);
  });

  it("keeps an app that a WABA uses, deletes a free one, and 404s afterwards", async () => {
    expect((await stack.admin("DELETE", "/api/admin/apps/1111")).status).toBe(409);
    await stack.admin("POST", "/api/admin/apps", {
      appId: "4444",
      name: "Tmp",
      appSecret: SECRET,
      domains: ["tmp.test"],
    });
    expect((await stack.admin("DELETE", "/api/admin/apps/4444")).status).toBe(204);
    expect((await stack.admin("GET", "/api/admin/apps/4444")).status).toBe(404);
    expect((await stack.admin("DELETE", "/api/admin/wabas/2222")).status).toBe(204);
    expect((await stack.admin("GET", "/api/admin/wabas/2222")).status).toBe(404);
  });

  it("serves an OpenAPI 3.1 document covering every admin route", async () => {
    const res = await fetch(`${stack.url}/api/admin/openapi.json`);
    const doc = (await res.json()) as any;
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/api/admin/apps",
        "/api/admin/apps/{appId}",
        "/api/admin/wabas",
        "/api/admin/wabas/{wabaId}",
      ]),
    );
    expect(doc.paths["/api/admin/apps"].post.requestBody.content["application/json"].schema.required).toEqual(
      expect.arrayContaining(["appId", "name", "appSecret"]),
    );
  });

  it("reports health", async () => {
    const res = await fetch(`${stack.url}/api/health`);
    expect(res.status).toBe(200);
  });
});

describe("GET /api/waba/ handshake", () => {
  it.each(["/api/waba/", "/api/waba"])("answers the challenge as text/plain at %s", async (path) => {
    const { body: app } = await stack.admin("GET", "/api/admin/apps/1111");
    for (const extra of ["", "&app_id=1111"]) {
      const res = await fetch(
        `${stack.url}${path}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${app.verifyToken}${extra}`,
      );
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(await res.text()).toBe("1158201444");
    }
  });

  it("answers 403 to an unknown token, another app's token or a wrong mode", async () => {
    const { body: app } = await stack.admin("GET", "/api/admin/apps/1111");
    await stack.admin("POST", "/api/admin/apps", { appId: "5555", name: "Other", appSecret: SECRET });
    const cases = [
      "hub.mode=subscribe&hub.challenge=1&hub.verify_token=vibecoding",
      `hub.mode=subscribe&hub.challenge=1&hub.verify_token=${app.verifyToken}&app_id=5555`,
      `hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=${app.verifyToken}`,
      `hub.mode=subscribe&hub.verify_token=${app.verifyToken}`,
    ];
    for (const q of cases) expect((await fetch(`${stack.url}/api/waba/?${q}`)).status).toBe(403);
  });
});

/**
 * A number as the registry holds it: webhooks are acted on only for numbers registered under the entry's
 * WABA. Stored through the real store, without the Bitrix24 side these tests do not need.
 */
async function registerNumber(phoneId: string, wabaId: string): Promise<void> {
  const now = new Date().toISOString();
  const { bitrixStore } = await getRuntime();
  await bitrixStore.createPhone({
    phoneId,
    phone: "+15550783881",
    wabaId,
    memberId: "member-without-portal",
    smsService: false,
    line: null,
    connector: { status: "pending" },
    smsSender: null,
    readReceipts: false,
    typingIndicator: false,
    createdAt: now,
    updatedAt: now,
  });
}

describe("POST /api/waba/", () => {
  beforeAll(async () => {
    await registerNumber("106540352242922", "102290129340398");
  });

  it("stores the documented text webhook once, keyed on its wamid", async () => {
    const res = await post(TEXT_WEBHOOK, signWebhook(TEXT_WEBHOOK, SECRET), "?app_id=1111");
    expect(res.status).toBe(200);
    const [stored] = await eventually(async () => {
      const items = await storedEvents();
      return items.length ? items : undefined;
    });
    expect(stored?.pk).toBe(`EVT#msg:${WAMID}`);
    expect(stored?.event).toMatchObject({ kind: "message", appId: "1111", customerId: "16505551234" });
  });

  it("stores nothing new when the same webhook is posted again", async () => {
    const before = await storedEvents();
    expect((await post(TEXT_WEBHOOK, signWebhook(TEXT_WEBHOOK, SECRET), "?app_id=1111")).status).toBe(200);
    await drained();
    expect(await storedEvents()).toEqual(before);
  });

  it("records a redelivered event once even when SQS's deduplication window has passed", async () => {
    const before = await storedEvents();
    const queue = stack.resources.queues[0]!;
    await makeSqsClient().send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: JSON.stringify(before[0]?.event),
        MessageGroupId: "106540352242922:16505551234",
        MessageDeduplicationId: "a-later-redelivery",
      }),
    );
    await eventually(async () =>
      stack.logs.some((l) => l.startsWith("inbound-worker")) && (await queueDepth()) === 0 ? true : undefined,
    );
    expect(await storedEvents()).toEqual(before);
  });

  it.each([
    ["a wrong signature", signWebhook(TEXT_WEBHOOK, "not-the-secret")],
    ["no signature", undefined],
  ])("answers 401 to %s and enqueues nothing", async (_name, signature) => {
    await drained();
    const body = TEXT_WEBHOOK.replace(WAMID, "wamid.unsigned");
    const res = await post(body, signature, "?app_id=1111");
    expect(res.status).toBe(401);
    expect(await queueDepth()).toBe(0);
    expect((await storedEvents()).map((e) => e.pk)).not.toContain("EVT#msg:wamid.unsigned");
  });

  it("counts each refused signature as a WebhookSignatureFailures metric line (what the alarm watches)", async () => {
    const from = stack.logs.length;
    const body = TEXT_WEBHOOK.replace(WAMID, "wamid.metric");
    expect((await post(body, signWebhook(body, "rotated-secret"), "?app_id=1111")).status).toBe(401);
    expect((await post(body, signWebhook(body, SECRET), "?app_id=1111")).status).toBe(200);
    const counted = metricLines(stack.logs, from).filter((l) => "WebhookSignatureFailures" in l);
    expect(counted).toHaveLength(1);
    expect(counted[0]).toMatchObject({
      Service: "waba-webhook",
      WebhookSignatureFailures: 1,
      _aws: { CloudWatchMetrics: [{ Metrics: [{ Name: "WebhookSignatureFailures", Unit: "Count" }] }] },
    });
    expect(JSON.stringify(counted)).not.toContain(SECRET);
  });

  it("answers 401 to an unknown app id and to an unknown host", async () => {
    await drained();
    const body = TEXT_WEBHOOK.replace(WAMID, "wamid.unknownapp");
    expect((await post(body, signWebhook(body, SECRET), "?app_id=999")).status).toBe(401);
    expect((await post(body, signWebhook(body, SECRET), "", "nobody.example.org")).status).toBe(401);
    expect(await queueDepth()).toBe(0);
  });

  it("resolves the app by host (port ignored) and, on a shared host, by whose secret verifies", async () => {
    await stack.admin("POST", "/api/admin/apps", {
      appId: "6001",
      name: "A",
      appSecret: "secret-of-a-0001",
      domains: ["shared.test"],
    });
    await stack.admin("POST", "/api/admin/apps", {
      appId: "6002",
      name: "B",
      appSecret: "secret-of-b-0002",
      domains: ["shared.test"],
    });
    // B's own WABA and number: a webhook acts only within the app that signed it.
    await stack.admin("POST", "/api/admin/wabas", {
      wabaId: "600200000000001",
      name: "B",
      appId: "6002",
      accessToken: TOKEN,
    });
    await registerNumber("600200000000002", "600200000000001");
    const body = TEXT_WEBHOOK.replace(WAMID, "wamid.byhost")
      .replace("102290129340398", "600200000000001")
      .replace("106540352242922", "600200000000002");
    const res = await post(body, signWebhook(body, "secret-of-b-0002"), "", "shared.test:8443");
    expect(res.status).toBe(200);
    const stored = await eventually(async () =>
      (await storedEvents()).find((e) => e.pk === "EVT#msg:wamid.byhost"),
    );
    expect(stored.event.appId).toBe("6002");
  });

  it("verifies base64-encoded bodies over the decoded bytes", async () => {
    const body = TEXT_WEBHOOK.replace(WAMID, "wamid.binary");
    const res = await fetch(`${stack.url}/api/waba/?app_id=1111`, {
      method: "POST",
      // A non-text content type makes the gateway base64-encode the body, as API Gateway does.
      headers: {
        "content-type": "application/octet-stream",
        "x-hub-signature-256": signWebhook(body, SECRET),
      },
      body,
    });
    expect(res.status).toBe(200);
    await eventually(async () => ((await reachedWorker()).has("wamid.binary") ? true : undefined));
  });

  it("answers 400 to a signed body that is not a WhatsApp webhook, and enqueues nothing", async () => {
    // The earlier tests' events first leave the queue (the registered number has no portal: dead letters).
    await drained();
    for (const body of ['{"object":"page","entry":[]}', "not json"]) {
      const res = await post(body, signWebhook(body, SECRET), "?app_id=1111");
      expect(res.status).toBe(400);
    }
    expect(await queueDepth()).toBe(0);
  });

  it("stores every message of a batched webhook (3 entries × 2 changes × 2 messages)", async () => {
    const base = JSON.parse(TEXT_WEBHOOK);
    const value = base.entry[0].changes[0].value;
    const entry = (e: number) => ({
      id: base.entry[0].id,
      changes: [1, 2].map((c) => ({
        field: "messages",
        value: {
          ...value,
          messages: [1, 2].map((m) => ({ ...value.messages[0], id: `wamid.batch-${e}-${c}-${m}` })),
        },
      })),
    });
    const body = JSON.stringify({ object: "whatsapp_business_account", entry: [1, 2, 3].map(entry) });
    expect((await post(body, signWebhook(body, SECRET), "?app_id=1111")).status).toBe(200);
    const batch = await eventually(async () => {
      const got = [...(await reachedWorker())].filter((id) => id.startsWith("wamid.batch-"));
      return got.length === 12 ? got : undefined;
    });
    expect(new Set(batch).size).toBe(12);
  });
});

describe("POST /api/waba/ when the queue refuses", () => {
  it("answers 5xx so Meta redelivers, instead of acknowledging what was not enqueued", async () => {
    // Nothing of earlier tests in flight: the poller is not halfway through a batch of a deleted queue.
    await drained();
    const queue = stack.resources.queues[0]!;
    const { DeleteQueueCommand } = await import("@aws-sdk/client-sqs");
    await makeSqsClient().send(new DeleteQueueCommand({ QueueUrl: queue.url }));
    const body = TEXT_WEBHOOK.replace(WAMID, "wamid.noqueue");
    const res = await post(body, signWebhook(body, SECRET), "?app_id=1111");
    expect(res.status).toBeGreaterThanOrEqual(500);
  });
});
