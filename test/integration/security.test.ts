/**
 * Two tenants on one local stack, tried as an attacker would. Tenant A is the business of the test world;
 * tenant B has its own Meta app, WABA, Bitrix24 portal and number, and uses its own valid secrets to reach
 * A's data. Every answer and log line of the run is kept; the last test scans them for every secret set.
 */
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSqsClient } from "#shared/adapters/sqs/fifo-queue.ts";
import { getRuntime } from "#shared/runtime.ts";
import { signWebhook } from "../fakes/meta-graph.ts";
import { fixtureJson } from "../fixtures.ts";
import { eventually, TEST_ADMIN_TOKEN } from "../support/stack.ts";
import {
  APP_ID,
  APP_SECRET,
  CLIENT_ID,
  CLIENT_SECRET,
  forOurNumber,
  PHONE_ID,
  startWorld,
  textWebhook,
  WABA_ID,
  WABA_TOKEN,
  type World,
} from "../support/world.ts";

const B = {
  appId: "2222",
  appSecret: "app-secret-tenant-b-0002",
  domain: "tenant-b.test",
  wabaId: "200000000000002",
  token: "EAAG-tenant-b-waba-token",
  phoneId: "200000000000003",
  phone: "+15550002222",
};

let world: World;
let memberB: string;
/** Every body the stack answered during this run, for the final secret scan. */
const answers: string[] = [];
/** Every line the functions logged (they write JSON lines to stdout, in this process). */
const logLines: string[] = [];
const writeStdout = process.stdout.write.bind(process.stdout);
const logged = (text: string) => [...world.stack.logs, ...logLines].some((l) => l.includes(text));

async function admin(method: string, path: string, body?: unknown) {
  const res = await world.stack.admin(method, path, body);
  answers.push(JSON.stringify(res.body ?? ""));
  return res;
}

/** A request to the stack whose answer is kept for the secret scan. */
async function call(path: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(`${world.stack.url}${path}`, init);
  const text = await res.text();
  answers.push(text);
  return { status: res.status, text };
}

/** Posts a webhook signed with tenant B's app secret. */
function postAsB(payload: unknown, query = `?app_id=${B.appId}`, headers: Record<string, string> = {}) {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  return call(`/api/waba/${query}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": signWebhook(body, B.appSecret),
      ...headers,
    },
    body,
  });
}

const intoB = () => toB(textWebhook([{ id: "wamid.to-b", from: "16505550009", body: "hi" }]));
const messagesOf = (memberId: string) => world.bitrix.portal(memberId).messages;

function toB<T>(payload: T): T {
  const copy = structuredClone(payload) as any;
  for (const entry of copy.entry) {
    entry.id = B.wabaId;
    for (const change of entry.changes) {
      if (change.value.metadata) change.value.metadata.phone_number_id = B.phoneId;
    }
  }
  return copy as T;
}

/** The WebhookForeignParts metric lines (CloudWatch embedded metric format) written so far, summed. */
async function foreignPartsCounted(): Promise<number> {
  return [...world.stack.logs, ...logLines]
    .flatMap((chunk) => chunk.split("\n"))
    .filter((line) => line.includes('"WebhookForeignParts"'))
    .reduce((sum, line) => sum + Number(JSON.parse(line).WebhookForeignParts ?? 0), 0);
}

beforeAll(async () => {
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    logLines.push(String(chunk));
    return writeStdout(chunk, ...rest);
  }) as typeof process.stdout.write;
  world = await startWorld();
  world.meta.addToken(B.token);
  const ok = (what: string, res: { status: number; body: unknown }) => {
    if (res.status >= 300) throw new Error(`${what} failed: ${res.status} ${JSON.stringify(res.body)}`);
  };
  ok(
    "app B",
    await admin("POST", "/api/admin/apps", {
      appId: B.appId,
      name: "Tenant B",
      appSecret: B.appSecret,
      domains: [B.domain],
    }),
  );
  ok(
    "WABA B",
    await admin("POST", "/api/admin/wabas", {
      wabaId: B.wabaId,
      name: "B",
      appId: B.appId,
      accessToken: B.token,
    }),
  );
  memberB = world.bitrix.addPortal({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    installed: true,
  }).memberId;
  const install = await call("/api/bitrix/", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: world.bitrix.installEventBody(memberB),
  });
  if (install.status !== 200) throw new Error(`install B failed: ${install.status} ${install.text}`);
  ok(
    "phone B",
    await admin("POST", "/api/admin/phones", {
      phone: B.phone,
      phoneId: B.phoneId,
      wabaId: B.wabaId,
      memberId: memberB,
    }),
  );
});

afterAll(async () => {
  process.stdout.write = writeStdout;
  await world?.stop();
});

describe("the webhook signature header is exactly one sha256 digest", () => {
  it.each([
    ["trailing bytes", (sig: string) => `${sig}00`],
    ["trailing text", (sig: string) => `${sig}; extra`],
    ["two joined headers", (sig: string) => `${sig}, ${sig}`],
    ["a sha1 header", () => "sha1=0123456789abcdef0123456789abcdef01234567"],
    ["no prefix", (sig: string) => sig.slice("sha256=".length)],
  ])("refuses %s with 401", async (_name, mangle) => {
    const body = JSON.stringify(intoB());
    const res = await call(`/api/waba/?app_id=${B.appId}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-hub-signature-256": mangle(signWebhook(body, B.appSecret)),
      },
      body,
    });
    expect(res.status).toBe(401);
  });
});

describe("a webhook acts only within the app that signed it", () => {
  const intoA = (id: string) => textWebhook([{ id, from: "16505550001", body: "forged into A" }]);

  it.each([
    ["?app_id", `?app_id=${B.appId}`, {}],
    ["X-Forwarded-Host of B's domain", "", { "x-forwarded-host": B.domain }],
  ])("drops entries naming A's WABA and number signed by B (%s), counted", async (_how, query, headers) => {
    const before = await foreignPartsCounted();
    const id = `wamid.forged-${query.length}`;
    const res = await postAsB(intoA(id), query, headers);
    expect(res.status).toBe(200);
    expect(await foreignPartsCounted()).toBe(before + 1);
    expect(logged("another tenant's ids were dropped")).toBe(true);
    // B's own message, posted after, arrives; A's line never sees the forged one.
    const own = `wamid.own-b-${query.length}`;
    await postAsB(toB(textWebhook([{ id: own, from: "16505550002", body: "B's own" }])), query, headers);
    await eventually(async () => messagesOf(memberB).find((m) => m.message.id === own));
    expect(messagesOf(world.memberId).some((m) => m.message.id === id)).toBe(false);
    expect(messagesOf(memberB).some((m) => m.message.id === id)).toBe(false);
  });

  it("drops them when a second app shares the host and B's secret is the one that verifies", async () => {
    await admin("PATCH", `/api/admin/apps/${APP_ID}`, { domains: ["shared-host.test"] });
    await admin("PATCH", `/api/admin/apps/${B.appId}`, { domains: [B.domain, "shared-host.test"] });
    const before = await foreignPartsCounted();
    const res = await postAsB(intoA("wamid.shared-host"), "", { "x-forwarded-host": "shared-host.test" });
    expect(res.status).toBe(200);
    expect(await foreignPartsCounted()).toBe(before + 1);
  });

  it("keeps the valid entries of the same request: B's own goes through, A's part is dropped", async () => {
    const own = toB(textWebhook([{ id: "wamid.mixed-own", from: "16505550003", body: "mine" }]));
    const foreign = intoA("wamid.mixed-foreign");
    const mixed = { object: "whatsapp_business_account", entry: [...foreign.entry, ...own.entry] };
    const before = await foreignPartsCounted();
    expect((await postAsB(mixed)).status).toBe(200);
    expect(await foreignPartsCounted()).toBe(before + 1);
    await eventually(async () => messagesOf(memberB).find((m) => m.message.id === "wamid.mixed-own"));
    expect(messagesOf(world.memberId).some((m) => m.message.id === "wamid.mixed-foreign")).toBe(false);
  });

  it("drops a change that names A's number under B's own WABA", async () => {
    const payload = toB(textWebhook([{ id: "wamid.phone-of-a", from: "16505550004", body: "x" }]));
    payload.entry[0]!.changes[0]!.value.metadata.phone_number_id = PHONE_ID;
    const before = await foreignPartsCounted();
    expect((await postAsB(payload)).status).toBe(200);
    expect(await foreignPartsCounted()).toBe(before + 1);
  });

  it("drops a standby and a handover that name A's number where the split reads it, under B's WABA", async () => {
    const standby = {
      field: "standby",
      value: {
        messaging_product: "whatsapp",
        metadata: { phone_number_id: B.phoneId },
        standby: {
          metadata: { phone_number_id: PHONE_ID },
          messages: [{ id: "wamid.standby-into-a", from: "16505550006", timestamp: "1", type: "text" }],
        },
      },
    };
    const handover = fixtureJson<any>("meta/webhook_messaging_handovers.json").entry[0].changes[0];
    handover.value.recipient.phone_number_id = PHONE_ID;
    const payload = {
      object: "whatsapp_business_account",
      entry: [{ id: B.wabaId, changes: [standby, handover] }],
    };
    const before = await foreignPartsCounted();
    expect((await postAsB(payload)).status).toBe(200);
    expect(await foreignPartsCounted()).toBe(before + 2);
  });

  it("drops a forged failed status against A's message and a template event for A's WABA", async () => {
    const { conversations } = await getRuntime();
    await conversations.putOutbound({
      wamid: "wamid.sent-by-a",
      phoneId: PHONE_ID,
      memberId: world.memberId,
      customerId: "16505550005",
      status: "accepted",
      origin: { kind: "openlines", lineId: 1, chatId: "wa:16505550005", imChatId: "1", imMessageId: "1" },
      createdAt: new Date().toISOString(),
    });
    await conversations.putTemplates(WABA_ID, []);
    const failed = forOurNumber(fixtureJson<any>("meta/webhook_status_sent.json"));
    Object.assign(failed.entry[0].changes[0].value.statuses[0], {
      id: "wamid.sent-by-a",
      status: "failed",
      errors: [{ code: 131026, title: "Message undeliverable", message: "Message undeliverable" }],
    });
    const template = fixtureJson<any>("meta/webhook_template_status_approved.json");
    const before = await foreignPartsCounted();
    expect((await postAsB(failed)).status).toBe(200);
    expect((await postAsB(template)).status).toBe(200);
    expect(await foreignPartsCounted()).toBe(before + 2);
    // Under B's own WABA and number, the same wamid is still not B's to report on.
    expect((await postAsB(toB(failed))).status).toBe(200);
    await eventually(async () => (logged("status names a message of another number") ? true : undefined));
    expect(messagesOf(world.memberId).some((m) => String(m.message.text).includes("131026"))).toBe(false);
    expect((await conversations.getOutbound("wamid.sent-by-a"))?.status).toBe("accepted");
    expect(await conversations.getTemplates(WABA_ID)).toBeDefined();
  });

  it("a queued event naming A's WABA under B's app never makes the worker use A's token", async () => {
    world.meta.addMedia("777000111", { mimeType: "image/jpeg", bytes: Buffer.from("A's picture") });
    const image = forOurNumber(fixtureJson<any>("meta/webhook_image.json"));
    const message = image.entry[0].changes[0].value.messages[0];
    message.id = "wamid.queued-forgery";
    message.image.id = "777000111";
    const queue = world.stack.resources.queues.find((q) => q.def.name === "inbound")!;
    await makeSqsClient().send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageGroupId: "forgery",
        MessageDeduplicationId: "forgery",
        MessageBody: JSON.stringify({
          v: 1,
          id: "msg:wamid.queued-forgery",
          appId: B.appId,
          wabaId: WABA_ID,
          field: "messages",
          phoneNumberId: PHONE_ID,
          kind: "message",
          customerId: message.from,
          timestamp: 1749416383,
          value: image.entry[0].changes[0].value,
        }),
      }),
    );
    await eventually(
      async () => messagesOf(world.memberId).find((m) => m.message.id === "wamid.queued-forgery"),
      20_000,
    );
    const used = world.meta.requestsTo(/777000111/).map((r) => r.headers.authorization);
    expect(used).not.toContain(`Bearer ${WABA_TOKEN}`);
  });
});

/** Meta's documented account_update change for B's WABA, padded so the webhook reaches `bytes`. */
function bigAccountWebhook(bytes: number, changes: number) {
  const base = fixtureJson<any>("meta/webhook_account_update_disabled_update.json");
  const change = base.entry[0].changes[0];
  const pad = "x".repeat(Math.ceil(bytes / changes));
  base.entry[0].id = B.wabaId;
  base.entry[0].changes = Array.from({ length: changes }, (_, i) => ({
    ...change,
    value: { ...change.value, ban_info: { ...change.value.ban_info, waba_ban_date: `${i} ${pad}` } },
  }));
  return JSON.stringify(base);
}

describe("hostile input never causes a 500", () => {
  it("answers 413 to a webhook over Meta's 3 MB payload limit, before checking anything", async () => {
    expect((await postAsB(bigAccountWebhook(10 * 1024 * 1024, 40))).status).toBe(413);
    const justOver = bigAccountWebhook(3 * 1024 * 1024 + 1024, 4);
    expect((await postAsB(justOver)).status).toBe(413);
    const unsigned = await call("/api/waba/?app_id=1", { method: "POST", body: justOver });
    expect(unsigned.status).toBe(413);
  });

  it("enqueues a signed 2.5 MB webhook in as many SQS batches as its bytes need", async () => {
    // Ten events of 250 KB: one batch by count, but over SQS's 1 MiB per request.
    const body = bigAccountWebhook(2.5 * 1024 * 1024, 10);
    expect(Buffer.byteLength(body)).toBeGreaterThan(2.5 * 1024 * 1024);
    expect((await postAsB(body)).status).toBe(200);
  });

  it("enqueues a single event over what SQS takes (by claim check) beside the rest", async () => {
    const body = JSON.parse(bigAccountWebhook(1.5 * 1024 * 1024, 1));
    body.entry.push(...toB(textWebhook([{ id: "wamid.beside-big", from: "16505550007", body: "ok" }])).entry);
    expect((await postAsB(body)).status).toBe(200);
    await eventually(async () => messagesOf(memberB).find((m) => m.message.id === "wamid.beside-big"));
  });

  it("answers 400 to 100k-deep JSON, signed or sent to the admin API", async () => {
    const deep = `{"object":"whatsapp_business_account","entry":[{"id":"${B.wabaId}","changes":[{"field":"x","value":{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}}]}]}`;
    expect((await postAsB(deep)).status).toBe(400);
    const admin = await call("/api/admin/apps", {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, "content-type": "application/json" },
      body: `{"appId":"9","name":${"[".repeat(100_000)}${"]".repeat(100_000)}}`,
    });
    expect(admin.status).toBe(400);
  });

  it.each([
    ["not base64 JSON", "!!!"],
    ["a key of another shape", Buffer.from('{"pk":{"S":"x"}}').toString("base64url")],
    [
      "a key of a list that is none of these",
      Buffer.from('{"pk":"WABA#1","sk":"WABA","gsi1pk":"TYPE#secret","gsi1sk":"1"}').toString("base64url"),
    ],
    ["an array", Buffer.from("[1]").toString("base64url")],
  ])("answers 400 to a forged cursor (%s)", async (_name, cursor) => {
    for (const list of ["apps", "wabas", "phones", "portals", "bitrix-apps", "dead-letters"]) {
      const res = await admin("GET", `/api/admin/${list}?cursor=${encodeURIComponent(cursor)}`);
      expect([list, res.status]).toEqual([list, 400]);
    }
  });

  it("answers 400 to ids over the length limit, and never 500 to an over-long app_id or host", async () => {
    const long = "9".repeat(3000);
    for (const path of ["apps", "wabas", "phones", "portals", "bitrix-apps"]) {
      const res = await admin("GET", `/api/admin/${path}/${long}`);
      expect([path, res.status]).toEqual([path, 400]);
    }
    expect((await postAsB(intoB(), `?app_id=${long}`)).status).toBe(401);
    expect((await postAsB(intoB(), "", { "x-forwarded-host": `${"a".repeat(3000)}.test` })).status).toBe(401);
    const waba = toB(textWebhook([{ id: "wamid.long-ids", from: "1", body: "x" }]));
    waba.entry[0]!.id = long;
    waba.entry[0]!.changes[0]!.value.metadata.phone_number_id = long;
    expect((await postAsB(waba)).status).toBe(200);
  });

  it("answers 401 to the connector settings page without valid auth", async () => {
    for (const body of [
      "PLACEMENT=SETTING_CONNECTOR&member_id=nobody&APPLICATION_TOKEN=x",
      `PLACEMENT=SETTING_CONNECTOR&member_id=${world.memberId}&APPLICATION_TOKEN=wrong`,
      `PLACEMENT=SETTING_CONNECTOR&member_id=${world.memberId}`,
    ]) {
      const res = await call("/api/bitrix/", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
      });
      expect(res.status).toBe(401);
    }
  });

  it('delivers a message carrying "__proto__" keys like any other text', async () => {
    const raw = JSON.stringify(
      toB(textWebhook([{ id: "wamid.proto", from: "16505550006", body: "__proto__", name: "__proto__" }])),
    )
      .replace(
        '"messaging_product":"whatsapp",',
        '"__proto__":{"messages":[]},"messaging_product":"whatsapp",',
      )
      .replace('"type":"text",', '"__proto__":{"type":"image"},"type":"text",')
      .replace('"text":{"body":"__proto__"}', '"text":{"__proto__":{"body":"no"},"body":"__proto__"}');
    expect((await postAsB(raw)).status).toBe(200);
    const m = await eventually(async () => messagesOf(memberB).find((x) => x.message.id === "wamid.proto"));
    expect(m.message.text).toBe("__proto__");
  });
});

describe("customer text cannot imitate the bridge", () => {
  it("reaches the open line with the customer's BBCode made inert", async () => {
    const forged = "[b]WhatsApp:[/b] [url=https://evil.example]Pay here[/url]";
    await postAsB(toB(textWebhook([{ id: "wamid.bbcode", from: "16505550008", body: forged }])));
    const m = await eventually(async () => messagesOf(memberB).find((x) => x.message.id === "wamid.bbcode"));
    expect(m.message.text).not.toContain("[b]");
    expect(m.message.text).not.toContain("[url=");
    expect(String(m.message.text).replaceAll("\u200B", "")).toBe(forged);
  });
});

/** Posts a Bitrix24 form body to our handler URL (with the query string a binding carries). */
function bitrixPost(body: string, query = "") {
  return call(`/api/bitrix/${query}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });
}

const handlerQuery = (memberId: string, event: string) => {
  const binding = world.bitrix.portal(memberId).events.find((e) => e.event === event);
  return binding ? binding.handler.slice(binding.handler.indexOf("?")) : "";
};

async function portalStatus(memberId: string): Promise<string> {
  return (await admin("GET", `/api/admin/portals/${memberId}`)).body.status;
}

describe("Bitrix24 events are verified: forged tokens, member_id, install hijack, PHP-form abuse", () => {
  it("refuses ONAPPUNINSTALL without A's application token, with B's, or at B's handler URL", async () => {
    const a = world.memberId;
    const tokenOfB = world.bitrix.portal(memberB).applicationToken;
    const attempts = [
      [
        world.bitrix.uninstallEventBody(a, true, { auth: { application_token: "" } }),
        handlerQuery(a, "ONAPPUNINSTALL"),
      ],
      [
        world.bitrix.uninstallEventBody(a, true, { auth: { application_token: tokenOfB } }),
        handlerQuery(a, "ONAPPUNINSTALL"),
      ],
      [world.bitrix.uninstallEventBody(a), handlerQuery(memberB, "ONAPPUNINSTALL")],
      [world.bitrix.uninstallEventBody(a), "?h=not-the-secret"],
    ] as const;
    for (const [body, query] of attempts) expect((await bitrixPost(body, query)).status).toBe(401);
    expect(await portalStatus(a)).toBe("installed");
  });

  it("refuses an operator message naming B's member_id at A's handler URL", async () => {
    const body = world.bitrix.eventBody(memberB, "ONIMCONNECTORMESSAGEADD", {
      CONNECTOR: "separator_waba",
      LINE: 1,
      MESSAGES: [{ im: { chat_id: 1, message_id: 1 }, message: { text: "x" }, chat: { id: "wa:1" } }],
    });
    expect((await bitrixPost(body, handlerQuery(world.memberId, "ONIMCONNECTORMESSAGEADD"))).status).toBe(
      401,
    );
    expect((await bitrixPost(body, "")).status).toBe(401);
  });

  it("does not let an install with tokens the OAuth server does not know take over A's portal", async () => {
    const before = await (await getRuntime()).bitrixStore.getPortal(world.memberId);
    const hijack = world.bitrix.installEventBody(world.memberId, {
      auth: {
        access_token: "forged-access",
        refresh_token: "forged-refresh",
        application_token: "f".repeat(32),
      },
    });
    const res = await bitrixPost(hijack);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const after = await (await getRuntime()).bitrixStore.getPortal(world.memberId);
    expect(after?.applicationToken).toBe(before?.applicationToken);
    expect(after?.tokens?.refreshToken).toBe(before?.tokens?.refreshToken);
  });

  it.each([
    ["auth as a list", "event=ONAPPUNINSTALL&auth[]=x&auth[]=y"],
    ["member_id as an array", "event=ONAPPUNINSTALL&auth[member_id][]=a&auth[application_token][x]=y"],
    ["deep nesting", `event=ONIMCONNECTORMESSAGEADD&${"data".concat("[a]".repeat(200))}=1`],
    ["many parameters", Array.from({ length: 5000 }, (_, i) => `p${i}=1`).join("&")],
    ["an event name as an array", "event[]=ONAPPUNINSTALL&event[]=ONAPPINSTALL"],
    [
      "prototype keys",
      "event=ONAPPUNINSTALL&__proto__[x]=1&constructor[prototype][y]=2&auth[member_id]=__proto__",
    ],
  ])("answers PHP-form abuse (%s) with a 4xx, never a 500", async (_name, body) => {
    const res = await bitrixPost(body);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe("admin API without a token", () => {
  it.each([
    ["no header", {}],
    ["a wrong token", { authorization: "Bearer not-the-token" }],
    ["another scheme", { authorization: `Basic ${TEST_ADMIN_TOKEN}` }],
    ["the token with trailing bytes", { authorization: `Bearer ${TEST_ADMIN_TOKEN}x` }],
  ])("answers 401 on every route with %s", async (_name, headers: Record<string, string>) => {
    for (const path of [
      "apps",
      "wabas",
      "phones",
      "portals",
      "bitrix-apps",
      "dead-letters",
      `apps/${APP_ID}`,
    ]) {
      expect([path, (await call(`/api/admin/${path}`, { headers })).status]).toEqual([path, 401]);
    }
    const create = await call("/api/admin/apps", {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ appId: "7777", name: "x", appSecret: "s".repeat(20) }),
    });
    expect(create.status).toBe(401);
  });
});

describe("no secret leaks", () => {
  it("no log line and no answer of this run holds any secret it set", async () => {
    const portalA = world.bitrix.tokens(world.memberId);
    const portalB = world.bitrix.tokens(memberB);
    const secrets = [
      APP_SECRET,
      B.appSecret,
      WABA_TOKEN,
      B.token,
      CLIENT_SECRET,
      TEST_ADMIN_TOKEN,
      "test-encryption-key-material-0123456789",
      portalA.accessToken,
      portalA.refreshToken,
      portalB.accessToken,
      portalB.refreshToken,
    ].filter((s): s is string => typeof s === "string" && s.length > 0);
    expect(secrets.length).toBeGreaterThanOrEqual(11);
    const captured = [...world.stack.logs, ...logLines, ...answers];
    expect(captured.length).toBeGreaterThan(20);
    for (const secret of secrets) {
      const leaks = captured.filter((line) => line.includes(secret));
      expect(leaks, `secret ${secret.slice(0, 6)}… found`).toEqual([]);
    }
  });
});
