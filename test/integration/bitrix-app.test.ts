import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BitrixRestClient } from "#shared/adapters/bitrix-rest/client.ts";
import { BitrixOAuthClient } from "#shared/adapters/bitrix-rest/oauth.ts";
import { TokenRefresher } from "#shared/adapters/bitrix-rest/token-refresher.ts";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { getRuntime } from "#shared/runtime.ts";
import { type BitrixFake, startBitrixFake } from "../fakes/bitrix24.ts";
import { type MetaGraphFake, startMetaGraphFake } from "../fakes/meta-graph.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

const CLIENT_ID = "local.6571a2b3c4d5e6.12345678";
const CLIENT_SECRET = "bitrix-client-secret-001";

let stack: TestStack;
let bitrix: BitrixFake;
let meta: MetaGraphFake;
let memberId: string;

const form = (body: string, query = "") =>
  fetch(`${stack.url}/api/bitrix/${query}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });

/** A REST client wired like the product's, against the fake's OAuth servers. */
async function client() {
  const runtime = await getRuntime();
  const oauth = new BitrixOAuthClient(5_000);
  const refresher = new TokenRefresher(runtime.bitrixStore, oauth, systemClock, [bitrix.oauthUrl]);
  return new BitrixRestClient(runtime.bitrixStore, refresher, {
    timeoutMs: 5_000,
    allowLoopbackHttp: true,
    limitRetryDelaysMs: [50, 100],
  });
}

beforeAll(async () => {
  bitrix = await startBitrixFake();
  meta = await startMetaGraphFake();
  meta.addToken("EAAG-waba");
  stack = await startTestStack({ BITRIX_OAUTH_URL: bitrix.oauthUrl, GRAPH_API_BASE_URL: meta.url });
  await stack.admin("POST", "/api/admin/apps", { appId: "1111", name: "Shop", appSecret: "app-secret-0001" });
  await stack.admin("POST", "/api/admin/wabas", {
    wabaId: "2222",
    name: "Main",
    appId: "1111",
    accessToken: "EAAG-waba",
  });
  memberId = bitrix.addPortal({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, installed: true }).memberId;
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all([bitrix?.close(), meta?.close()]);
});

describe("Bitrix24 apps", () => {
  it("registers the OAuth client and says what to paste into Bitrix24, never the secret", async () => {
    const res = await stack.admin("POST", "/api/admin/bitrix-apps", {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      name: "WA",
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      clientId: CLIENT_ID,
      handlerUrl: `${stack.url}/api/bitrix/app/`,
      installUrl: `${stack.url}/api/bitrix/`,
    });
    expect(res.body.scopes).toEqual(expect.arrayContaining(["imconnector", "imopenlines", "messageservice"]));
    expect(JSON.stringify(res.body)).not.toContain(CLIENT_SECRET);
    expect(
      (
        await stack.admin("POST", "/api/admin/bitrix-apps", {
          clientId: CLIENT_ID,
          clientSecret: "x".repeat(10),
        })
      ).status,
    ).toBe(409);
  });
});

describe("install", () => {
  it("refuses an install whose app is not registered, and a token the OAuth server does not know", async () => {
    const foreign = bitrix.addPortal({
      clientId: "local.other.app",
      clientSecret: "s-s-s-s-s",
      installed: true,
    });
    expect((await form(bitrix.installEventBody(foreign.memberId))).status).toBe(403);
    const forged = bitrix.installEventBody(memberId, { auth: { access_token: "not-a-token" } });
    expect((await form(forged)).status).toBe(403);
    expect((await stack.admin("GET", `/api/admin/portals/${memberId}`)).status).toBe(404);
  });

  it("installs from the ONAPPINSTALL event: verified with app.info, events bound, connector registered", async () => {
    const res = await form(bitrix.installEventBody(memberId));
    expect(res.status).toBe(200);
    const portal = (await stack.admin("GET", `/api/admin/portals/${memberId}`)).body;
    expect(portal).toMatchObject({ memberId, clientId: CLIENT_ID, status: "installed", setupError: null });
    const state = bitrix.portal(memberId);
    expect(state.events.map((e) => e.event).sort()).toEqual(
      [
        "ONAPPINSTALL",
        "ONAPPUNINSTALL",
        "ONAPPUPDATE",
        "ONIMCONNECTORLINEDELETE",
        "ONIMCONNECTORMESSAGEADD",
        "ONIMCONNECTORMESSAGEDELETE",
        "ONIMCONNECTORMESSAGEUPDATE",
        "ONIMCONNECTORSTATUSDELETE",
      ].sort(),
    );
    for (const binding of state.events)
      expect(binding.handler).toMatch(new RegExp(`^${stack.url}/api/bitrix/\\?h=`));
    expect(state.connectors.has(CONNECTOR_ID)).toBe(true);
    expect(bitrix.requestsTo("/rest/app.info").length).toBeGreaterThan(0);
  });

  it("installs again idempotently: no duplicate bindings", async () => {
    expect((await form(bitrix.installEventBody(memberId))).status).toBe(200);
    expect(bitrix.portal(memberId).events).toHaveLength(8);
  });

  it("refuses an install by a user who is not a portal administrator", async () => {
    const user = bitrix.addPortal({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      installed: true,
      admin: false,
    });
    expect((await form(bitrix.installEventBody(user.memberId))).status).toBe(403);
    expect((await stack.admin("GET", `/api/admin/portals/${user.memberId}`)).status).toBe(404);
  });

  it("refuses a request whose portal address is not the one the OAuth server names, and stores nothing", async () => {
    const victim = bitrix.addPortal({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, installed: true });
    const endpoint = bitrix.installEventBody(victim.memberId, {
      auth: { client_endpoint: "https://evil.example/rest/" },
    });
    const domain = bitrix.installEventBody(victim.memberId, { auth: { domain: "evil.example" } });
    expect((await form(endpoint)).status).toBe(403);
    expect((await form(domain)).status).toBe(403);
    expect(await (await getRuntime()).bitrixStore.getPortal(victim.memberId)).toBeUndefined();
  });

  it("never takes another portal's tokens through a refresh token that came with an install", async () => {
    const other = bitrix.addPortal({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, installed: true });
    const target = bitrix.addPortal({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, installed: true });
    const mixed = bitrix.installEventBody(target.memberId, {
      auth: { refresh_token: bitrix.tokens(other.memberId).refreshToken },
    });
    expect((await form(mixed)).status).toBe(200);
    bitrix.expireTokens(target.memberId);
    const rest = await client();
    await expect(rest.call(target.memberId, "imconnector.list")).rejects.toMatchObject({
      bitrixCode: "TOKEN_OF_ANOTHER_PORTAL",
    });
    const stored = await (await getRuntime()).bitrixStore.getPortal(target.memberId);
    expect(stored?.tokens?.accessToken).not.toBe(bitrix.tokens(other.memberId).accessToken);
  });

  it("answers the install page with HTML that calls BX24.installFinish()", async () => {
    const page = bitrix.addPortal({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, installed: true });
    const res = await form(
      bitrix.installPageBody(page.memberId),
      `?${bitrix.installPageQuery(page.memberId)}`,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(await res.text()).toContain("BX24.installFinish()");
    expect((await stack.admin("GET", `/api/admin/portals/${page.memberId}`)).body.status).toBe("installed");
    // Opening the app again (any user, own token) changes nothing stored.
    const before = await (await getRuntime()).bitrixStore.getPortal(page.memberId);
    const again = await form(
      bitrix.installPageBody(page.memberId, { APPLICATION_TOKEN: "chosen-by-someone" }),
      `?${bitrix.installPageQuery(page.memberId)}`,
    );
    expect(again.status).toBe(200);
    const after = await (await getRuntime()).bitrixStore.getPortal(page.memberId);
    expect(after?.applicationToken).toBe(before?.applicationToken);
    expect(after?.tokens?.version).toBe(before?.tokens?.version);
  });

  it("lists portals without secrets", async () => {
    const list = await stack.admin("GET", "/api/admin/portals");
    expect(list.body.items.map((p: any) => p.memberId)).toContain(memberId);
    const text = JSON.stringify(list.body);
    expect(text).not.toContain(bitrix.tokens(memberId).accessToken);
    expect(text).not.toContain(bitrix.portal(memberId).applicationToken);
  });
});

describe("event authentication", () => {
  it("refuses an event with a foreign application token or without the handler secret", async () => {
    const binding = bitrix.portal(memberId).events.find((e) => e.event === "ONIMCONNECTORLINEDELETE")!;
    const query = binding.handler.slice(binding.handler.indexOf("?"));
    const wrongToken = bitrix.eventBody(memberId, "ONIMCONNECTORLINEDELETE", 5, {
      auth: { application_token: "f".repeat(32) },
    });
    expect((await form(wrongToken, query)).status).toBe(401);
    const noSecret = bitrix.eventBody(memberId, "ONIMCONNECTORLINEDELETE", 5);
    expect((await form(noSecret)).status).toBe(401);
    expect((await form(noSecret, "?h=wrong")).status).toBe(401);
    const unknownPortal = bitrix.eventBody(memberId, "ONIMCONNECTORLINEDELETE", 5, {
      auth: { member_id: "nobody" },
    });
    expect((await form(unknownPortal, query)).status).toBe(401);
  });

  it("answers 400 to a body that is no Bitrix24 request", async () => {
    expect((await form("hello=world")).status).toBe(400);
  });
});

describe("phones", () => {
  it("validates: unknown WABA or portal → 400 naming the field, bad number → 400", async () => {
    const base = { phone: "+7 700 123-45-67", phoneId: "106540352242922", wabaId: "2222", memberId };
    const badWaba = await stack.admin("POST", "/api/admin/phones", { ...base, wabaId: "9" });
    expect(badWaba.status).toBe(400);
    expect(badWaba.body.error.message).toMatch(/wabaId/);
    const badPortal = await stack.admin("POST", "/api/admin/phones", { ...base, memberId: "nope" });
    expect(badPortal.status).toBe(400);
    expect(badPortal.body.error.message).toMatch(/memberId/);
    const badPhone = await stack.admin("POST", "/api/admin/phones", { ...base, phone: "call me maybe" });
    expect(badPhone.status).toBe(400);
  });

  it("connects a number: line separator_<digits>, connector active, SMS sender registered", async () => {
    const res = await stack.admin("POST", "/api/admin/phones", {
      phone: "+7 700 123-45-67",
      phoneId: "106540352242922",
      wabaId: "2222",
      memberId,
      smsService: true,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      phone: "+77001234567",
      line: { name: "separator_77001234567" },
      connector: { status: "active" },
      smsSender: { code: "waba_106540352242922", status: "registered" },
    });
    const state = bitrix.portal(memberId);
    expect([...state.lines.values()].filter((l) => l.LINE_NAME === "separator_77001234567")).toHaveLength(1);
    const sender = state.senders.get("waba_106540352242922");
    expect(sender?.TYPE).toBe("SMS");
    expect(sender?.HANDLER).toMatch(new RegExp(`^${stack.url}/api/bitrix/sms/\\?h=`));
  });

  it("answers 409 to a phone id already used", async () => {
    const dup = await stack.admin("POST", "/api/admin/phones", {
      phone: "+77009999999",
      phoneId: "106540352242922",
      wabaId: "2222",
      memberId,
    });
    expect(dup.status).toBe(409);
  });

  it("reconnecting repeats nothing: same line, no second line, sender updated not duplicated", async () => {
    const before = bitrix.portal(memberId).lines.size;
    const res = await stack.admin("PATCH", "/api/admin/phones/106540352242922", {});
    expect(res.status).toBe(200);
    expect(res.body.connector.status).toBe("active");
    expect(bitrix.portal(memberId).lines.size).toBe(before);
    expect(bitrix.callCount("messageservice.sender.update")).toBeGreaterThan(0);
  });

  it("records a Bitrix24 failure half-way and continues on the next PATCH without a second line", async () => {
    const phoneId = "200000000000001";
    bitrix.failMethod("imconnector.activate", {
      status: 400,
      error: "NOT_ACTIVE_LINE",
      error_description: "boom",
    });
    const first = await stack.admin("POST", "/api/admin/phones", {
      phone: "+15550001111",
      phoneId,
      wabaId: "2222",
      memberId,
    });
    expect(first.status).toBe(201);
    expect(first.body.connector.status).toBe("error");
    expect(first.body.connector.error).toMatch(/NOT_ACTIVE_LINE/);
    expect(first.body.line.name).toBe("separator_15550001111");
    const retry = await stack.admin("PATCH", `/api/admin/phones/${phoneId}`, {});
    expect(retry.body.connector.status).toBe("active");
    expect(retry.body.line.id).toBe(first.body.line.id);
    expect(
      [...bitrix.portal(memberId).lines.values()].filter((l) => l.LINE_NAME === "separator_15550001111"),
    ).toHaveLength(1);
  });

  it("switches the SMS sender off and on", async () => {
    const off = await stack.admin("PATCH", "/api/admin/phones/106540352242922", { smsService: false });
    expect(off.body.smsSender).toBeNull();
    expect(bitrix.portal(memberId).senders.has("waba_106540352242922")).toBe(false);
    const on = await stack.admin("PATCH", "/api/admin/phones/106540352242922", { smsService: true });
    expect(on.body.smsSender).toMatchObject({ status: "registered" });
    expect(bitrix.portal(memberId).senders.has("waba_106540352242922")).toBe(true);
  });

  it("detaches the phone when its line is deleted in Bitrix24, and a PATCH reconnects it", async () => {
    const { body: phone } = await stack.admin("GET", "/api/admin/phones/200000000000001");
    const results = await bitrix.deliverEvent(memberId, "ONIMCONNECTORLINEDELETE", phone.line.id);
    expect(results.map((r) => r.status)).toEqual([200]);
    const detached = (await stack.admin("GET", "/api/admin/phones/200000000000001")).body;
    expect(detached.connector).toMatchObject({ status: "error" });
    expect(detached.connector.error).toMatch(/deleted/);
    expect(detached.line).toBeNull();
    const again = await stack.admin("PATCH", "/api/admin/phones/200000000000001", {});
    expect(again.body.connector.status).toBe("active");
  });

  it("detaches on ONIMCONNECTORSTATUSDELETE for our connector only", async () => {
    const { body: phone } = await stack.admin("GET", "/api/admin/phones/200000000000001");
    await bitrix.deliverEvent(memberId, "ONIMCONNECTORSTATUSDELETE", {
      connector: "telegrambot",
      line: String(phone.line.id),
    });
    expect((await stack.admin("GET", "/api/admin/phones/200000000000001")).body.connector.status).toBe(
      "active",
    );
    await bitrix.deliverEvent(memberId, "ONIMCONNECTORSTATUSDELETE", {
      connector: CONNECTOR_ID,
      line: String(phone.line.id),
    });
    const after = (await stack.admin("GET", "/api/admin/phones/200000000000001")).body;
    expect(after.connector.status).toBe("error");
    expect(after.line.id).toBe(phone.line.id);
    expect((await stack.admin("PATCH", "/api/admin/phones/200000000000001", {})).body.connector.status).toBe(
      "active",
    );
  });

  it("moves a phone to another portal; the old line's disconnection echo leaves it alone", async () => {
    const other = bitrix.addPortal({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, installed: true });
    expect((await form(bitrix.installEventBody(other.memberId))).status).toBe(200);
    const { body: before } = await stack.admin("GET", "/api/admin/phones/200000000000001");
    const moved = await stack.admin("PATCH", "/api/admin/phones/200000000000001", {
      memberId: other.memberId,
    });
    expect(moved.body).toMatchObject({ memberId: other.memberId, connector: { status: "active" } });
    const oldStatus = [...bitrix.portal(memberId).lineStatus.values()].find(
      (s) => Number(s.line) === before.line.id,
    );
    expect(oldStatus?.active ?? false).toBe(false);
    await bitrix.deliverEvent(memberId, "ONIMCONNECTORSTATUSDELETE", {
      connector: CONNECTOR_ID,
      line: String(before.line.id),
    });
    expect((await stack.admin("GET", "/api/admin/phones/200000000000001")).body.connector.status).toBe(
      "active",
    );
  });

  it("deleting a phone deactivates its line and removes its sender", async () => {
    const { body: phone } = await stack.admin("GET", "/api/admin/phones/106540352242922");
    expect((await stack.admin("DELETE", "/api/admin/phones/106540352242922")).status).toBe(204);
    expect(bitrix.portal(memberId).senders.has("waba_106540352242922")).toBe(false);
    const status = [...bitrix.portal(memberId).lineStatus.values()].find(
      (s) => Number(s.line) === phone.line.id,
    );
    expect(status?.active ?? false).toBe(false);
    expect((await stack.admin("GET", "/api/admin/phones/106540352242922")).status).toBe(404);
  });
});

describe("REST client", () => {
  it("refreshes an expired token once when two callers race, and both end with the one valid token", async () => {
    const rest = await client();
    bitrix.expireTokens(memberId);
    const refreshesBefore = bitrix.portal(memberId).refreshCount;
    const [a, b] = await Promise.all([
      rest.call(memberId, "imconnector.list"),
      rest.call(memberId, "messageservice.sender.list"),
    ]);
    expect(a).toBeTruthy();
    expect(Array.isArray(b)).toBe(true);
    expect(bitrix.portal(memberId).refreshCount).toBe(refreshesBefore + 1);
    const stored = (await (await getRuntime()).bitrixStore.getPortal(memberId))?.tokens;
    expect(stored?.accessToken).toBe(bitrix.tokens(memberId).accessToken);
    expect(await rest.call(memberId, "imconnector.list")).toBeTruthy();
  });

  it("waits out QUERY_LIMIT_EXCEEDED and succeeds", async () => {
    const rest = await client();
    bitrix.failMethod(
      "imconnector.list",
      { status: 503, error: "QUERY_LIMIT_EXCEEDED", error_description: "Too many requests" },
      { times: 2 },
    );
    expect(await rest.call(memberId, "imconnector.list")).toBeTruthy();
  });

  it("types a permanent error with Bitrix24's code and message", async () => {
    const rest = await client();
    bitrix.failMethod("imconnector.list", { status: 400, error: "ERROR_ARGUMENT", error_description: "bad" });
    await expect(rest.call(memberId, "imconnector.list")).rejects.toMatchObject({
      bitrixCode: "ERROR_ARGUMENT",
      transient: false,
    });
  });
});

describe("app lifecycle events", () => {
  it("ONAPPUPDATE stores the new application token and re-registers what an update removes", async () => {
    const newToken = "a".repeat(32);
    bitrix.portal(memberId).senders.clear();
    const phoneId = "300000000000001";
    await stack.admin("POST", "/api/admin/phones", {
      phone: "+15550002222",
      phoneId,
      wabaId: "2222",
      memberId,
      smsService: true,
    });
    bitrix.portal(memberId).senders.clear();
    const results = await bitrix.deliverEvent(
      memberId,
      "ONAPPUPDATE",
      { VERSION: "2", PREVIOUS_VERSION: "1" },
      { auth: { application_token: newToken } },
    );
    expect(results[0]?.status).toBe(200);
    expect(bitrix.portal(memberId).senders.has(`waba_${phoneId}`)).toBe(true);
    const oldToken = bitrix.eventBody(memberId, "ONIMCONNECTORLINEDELETE", 99999);
    const binding = bitrix.portal(memberId).events.find((e) => e.event === "ONIMCONNECTORLINEDELETE")!;
    const query = binding.handler.slice(binding.handler.indexOf("?"));
    expect((await form(oldToken, query)).status).toBe(401);
    const withNew = bitrix.eventBody(memberId, "ONIMCONNECTORLINEDELETE", 99999, {
      auth: { application_token: newToken },
    });
    expect((await form(withNew, query)).status).toBe(200);
  });

  it("ONAPPUNINSTALL with a wrong token changes nothing; with the right one the portal forgets its tokens", async () => {
    const binding = bitrix.portal(memberId).events.find((e) => e.event === "ONAPPUNINSTALL")!;
    const query = binding.handler.slice(binding.handler.indexOf("?"));
    const forged = bitrix.uninstallEventBody(memberId, true, { auth: { application_token: "0".repeat(32) } });
    expect((await form(forged, query)).status).toBe(401);
    expect((await stack.admin("GET", `/api/admin/portals/${memberId}`)).body.status).toBe("installed");
    const real = bitrix.uninstallEventBody(memberId, true, { auth: { application_token: "a".repeat(32) } });
    expect((await form(real, query)).status).toBe(200);
    expect((await stack.admin("GET", `/api/admin/portals/${memberId}`)).body.status).toBe("uninstalled");
    const stored = await (await getRuntime()).bitrixStore.getPortal(memberId);
    expect(stored?.tokens).toBeNull();
    expect(stored?.applicationToken).toBe("");
    const phone = (await stack.admin("GET", "/api/admin/phones/300000000000001")).body;
    expect(phone.connector).toMatchObject({ status: "error" });
    expect(phone.connector.error).toMatch(/uninstalled/);
  });
});
