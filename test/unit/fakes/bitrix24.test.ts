import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BitrixErrorBody, BitrixFake, BitrixTokens } from "../../fakes/bitrix24.ts";
import { httpBuildQuery, startBitrixFake } from "../../fakes/bitrix24.ts";
import type { HttpFake } from "../../fakes/http-fake.ts";
import { startHttpFake } from "../../fakes/http-fake.ts";
import { fixtureJson } from "../../fixtures.ts";

interface RestBody {
  result?: unknown;
  error?: string;
  error_description?: string;
  time?: Record<string, unknown>;
  total?: number;
  next?: number;
}

let fake: BitrixFake;
let clock: number;
let portal: BitrixTokens;
const CLIENT = { clientId: "local.5c4032a5b4dd80.50799352", clientSecret: "s3cr3t" };

beforeEach(async () => {
  clock = Date.UTC(2026, 2, 1);
  fake = await startBitrixFake({ now: () => clock });
  portal = fake.addPortal({ ...CLIENT, memberId: "a223c6b3710f85df22e9377d6c4f7553" });
});

afterEach(async () => {
  await fake.close();
});

async function rest(method: string, params: Record<string, unknown> = {}, token = portal.accessToken) {
  const response = await fetch(`${fake.clientEndpoint}${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...params, auth: token }),
  });
  return { status: response.status, body: (await response.json()) as RestBody };
}

async function refresh(refreshToken: string, clientSecret = CLIENT.clientSecret) {
  const query = new URLSearchParams({
    grant_type: "refresh_token",
    client_id: CLIENT.clientId,
    client_secret: clientSecret,
    refresh_token: refreshToken,
  });
  const response = await fetch(`${fake.oauthUrl}/oauth/token/?${query}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("OAuth server", () => {
  it("refreshes in the documented shape; refresh tokens are single-use; the old access token stops working", async () => {
    const first = await refresh(portal.refreshToken);
    expect(first.status).toBe(200);
    const documented = fixtureJson<Record<string, unknown>>("bitrix/oauth_refresh_response.json");
    expect(Object.keys(first.body)).toEqual(Object.keys(documented));
    expect(first.body).toMatchObject({
      member_id: portal.memberId,
      client_endpoint: fake.clientEndpoint,
      server_endpoint: fake.serverEndpoint,
      // The refresh answer's domain is the OAuth server's (docs settings/oauth/index), not the portal's.
      domain: new URL(fake.oauthUrl).host,
      expires_in: 3600,
      expires: Math.floor(clock / 1000) + 3600,
    });
    const newAccess = String(first.body.access_token);
    expect(newAccess).not.toBe(portal.accessToken);
    expect(first.body.refresh_token).not.toBe(portal.refreshToken);

    const reused = await refresh(portal.refreshToken);
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe("invalid_grant");

    expect((await rest("app.info", {}, newAccess)).status).toBe(200);
    const old = await rest("app.info", {}, portal.accessToken);
    expect(old.status).toBe(401);
    expect(old.body.error).toBe("expired_token");

    const chained = await refresh(String(first.body.refresh_token));
    expect(chained.status).toBe(200);
    expect(fake.portal(portal.memberId).refreshCount).toBe(2);
  });

  it("refuses a wrong client secret or an unknown refresh token", async () => {
    const wrongSecret = await refresh(portal.refreshToken, "nope");
    expect(wrongSecret.status).toBe(400);
    expect(wrongSecret.body.error).toBe("invalid_client");
    expect((await refresh("never-issued")).body.error).toBe("invalid_grant");
    // The failed attempts did not consume the refresh token.
    expect((await refresh(portal.refreshToken)).status).toBe(200);
  });

  it("accepts the refresh parameters as a form POST body too", async () => {
    const response = await fetch(`${fake.oauthUrl}/oauth/token/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        client_id: CLIENT.clientId,
        client_secret: CLIENT.clientSecret,
        refresh_token: portal.refreshToken,
      }).toString(),
    });
    expect(response.status).toBe(200);
    expect(fake.tokens(portal.memberId).refreshToken).not.toBe(portal.refreshToken);
  });

  it("answers app.info on the OAuth server as b24pysdk types it: the portal only inside install, no licence", async () => {
    const response = await fetch(`${fake.oauthUrl}/rest/app.info?auth=${portal.accessToken}`);
    expect(response.status).toBe(200);
    const { result } = (await response.json()) as { result: Record<string, Record<string, unknown>> };
    const typed = fixtureJson<{ result: Record<string, Record<string, unknown>> }>(
      "bitrix/oauth_app_info_response.json",
    ).result;
    expect(Object.keys(result).sort()).toEqual(Object.keys(typed).sort());
    expect(Object.keys(result.install ?? {}).sort()).toEqual(Object.keys(typed.install ?? {}).sort());
    expect(result).toMatchObject({
      client_id: CLIENT.clientId,
      user_id: 1,
      install: { member_id: portal.memberId, client_endpoint: fake.clientEndpoint, installed: true },
    });
    expect(result).not.toHaveProperty("member_id");
    expect(result).not.toHaveProperty("LICENSE_FAMILY");
  });

  it("knows only its own region's tokens: an east portal's token is unknown in the west and refreshes in the east", async () => {
    const east = fake.addPortal({ ...CLIENT, region: "east" });
    const west = await fetch(`${fake.oauthUrl}/rest/app.info?auth=${east.accessToken}`);
    expect(west.status).toBe(401);
    const eastUrl = fake.oauthServers.east.url;
    expect((await fetch(`${eastUrl}/rest/app.info?auth=${east.accessToken}`)).status).toBe(200);
    const query = new URLSearchParams({
      grant_type: "refresh_token",
      client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret,
      refresh_token: east.refreshToken,
    });
    expect((await fetch(`${fake.oauthUrl}/oauth/token/?${query}`)).status).toBe(400);
    const refreshed = await fetch(`${eastUrl}/oauth/token/?${query}`);
    expect(refreshed.status).toBe(200);
    expect(((await refreshed.json()) as { server_endpoint: string }).server_endpoint).toBe(
      fake.serverEndpointOf("east"),
    );
  });

  it("answers the portal's own app.info with the documented licence fields", async () => {
    const response = await rest("app.info");
    expect(response.status).toBe(200);
    const result = response.body.result as Record<string, unknown>;
    expect(result).toMatchObject({
      CODE: CLIENT.clientId,
      STATUS: "L",
      INSTALLED: true,
      PAYMENT_EXPIRED: "N",
      LICENSE_FAMILY: "project",
    });
    for (const key of ["ID", "VERSION", "DAYS", "LANGUAGE_ID", "LICENSE", "LICENSE_TYPE"]) {
      expect(result).toHaveProperty(key);
    }
  });
});

describe("disk", () => {
  it("answers disk.file.get with the documented fields and serves DOWNLOAD_URL; needs the disk scope", async () => {
    const withDisk = fake.addPortal({ ...CLIENT, scope: "imopenlines,imconnector,disk" });
    const id = fake.addDiskFile(withDisk.memberId, { name: "a.png", bytes: Buffer.from("png-bytes") });
    const documented = fixtureJson<{ result: Record<string, unknown> }>(
      "bitrix/disk_file_get_response.json",
    ).result;
    const answer = await rest("disk.file.get", { id }, withDisk.accessToken);
    expect(answer.status).toBe(200);
    const result = answer.body.result as Record<string, unknown>;
    expect(Object.keys(result)).toEqual(Object.keys(documented));
    expect(result).toMatchObject({ ID: id, NAME: "a.png", SIZE: "9", TYPE: "file" });
    const download = await fetch(String(result.DOWNLOAD_URL));
    expect(Buffer.from(await download.arrayBuffer()).toString()).toBe("png-bytes");
    expect((await rest("disk.file.get", { id })).body.error).toBe("insufficient_scope");
  });
});

describe("REST authentication", () => {
  it("answers an expired token with the documented expired_token body and status", async () => {
    fake.expireTokens(portal.memberId);
    const response = await rest("app.info");
    expect(response.status).toBe(401);
    expect(response.body).toEqual(fixtureJson<BitrixErrorBody>("bitrix/error_expired_token.json"));
    expect(fake.callCount()).toBe(0);
  });

  it("expires access tokens after their hour", async () => {
    clock += 3600 * 1000;
    expect((await rest("app.info")).body.error).toBe("expired_token");
  });

  it("answers an unknown token with invalid_token and no token with NO_AUTH_FOUND", async () => {
    const unknown = await rest("app.info", {}, "zzz");
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toBe("invalid_token");
    const none = await fetch(`${fake.clientEndpoint}app.info`, { method: "POST" });
    expect(none.status).toBe(401);
    expect(((await none.json()) as RestBody).error).toBe("NO_AUTH_FOUND");
  });

  it("accepts `.json` suffixes, GET with ?auth=, and form-encoded bodies", async () => {
    const viaGet = await fetch(`${fake.clientEndpoint}app.info.json?auth=${portal.accessToken}`);
    expect(viaGet.status).toBe(200);
    const viaForm = await fetch(`${fake.clientEndpoint}event.bind`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: httpBuildQuery({
        EVENT: "OnImConnectorMessageAdd",
        HANDLER: "https://app.example/b24",
        auth: portal.accessToken,
      }),
    });
    expect(((await viaForm.json()) as RestBody).result).toBe(true);
    expect(fake.portal(portal.memberId).events[0]?.event).toBe("ONIMCONNECTORMESSAGEADD");
  });

  it("answers unknown methods with ERROR_METHOD_NOT_FOUND", async () => {
    const response = await rest("crm.nothing.here");
    expect(response.status).toBe(404);
    expect(response.body).toEqual({
      error: "ERROR_METHOD_NOT_FOUND",
      error_description: "Method not found!",
    });
  });

  it("requires the scope of the method", async () => {
    const narrow = fake.addPortal({ scope: "crm" });
    const response = await rest("imconnector.list", {}, narrow.accessToken);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe("insufficient_scope");
  });

  it("wraps results in { result, time }", async () => {
    const response = await rest("event.bind", {
      event: "ONAPPUNINSTALL",
      handler: "https://app.example/b24",
    });
    const documented = fixtureJson<RestBody>("bitrix/event_bind_response.json");
    expect(response.body.result).toBe(documented.result);
    for (const key of Object.keys(documented.time ?? {})) expect(response.body.time).toHaveProperty(key);
  });
});

describe("query limit", () => {
  it("answers 503 QUERY_LIMIT_EXCEEDED once the leaky bucket overflows, and drains over time", async () => {
    fake.queryLimit(portal.memberId, { perSecond: 2, burst: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await rest("app.info")).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 503, 503]);

    const limited = await rest("app.info");
    expect(limited.body).toEqual(fixtureJson<BitrixErrorBody>("bitrix/error_query_limit_exceeded.json"));

    clock += 1000; // drains 2
    const after: number[] = [];
    for (let i = 0; i < 3; i++) after.push((await rest("app.info")).status);
    expect(after).toEqual([200, 200, 503]);
    expect(fake.callCount("app.info")).toBe(7);
  });

  it("is per portal", async () => {
    const other = fake.addPortal();
    fake.queryLimit(portal.memberId, { perSecond: 1, burst: 1 });
    await rest("app.info");
    expect((await rest("app.info")).status).toBe(503);
    expect((await rest("app.info", {}, other.accessToken)).status).toBe(200);
  });
});

describe("event bindings", () => {
  it("binds, lists, refuses duplicates and unbinds", async () => {
    await rest("event.bind", { event: "OnImConnectorMessageAdd", handler: "https://app.example/b24" });
    const duplicate = await rest("event.bind", {
      event: "ONIMCONNECTORMESSAGEADD",
      handler: "https://app.example/b24",
    });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.error_description).toBe("Handler already binded");

    expect((await rest("event.get")).body.result).toEqual([
      { event: "ONIMCONNECTORMESSAGEADD", handler: "https://app.example/b24", auth_type: "0", offline: 0 },
    ]);
    const unbind = await rest("event.unbind", {
      event: "ONIMCONNECTORMESSAGEADD",
      handler: "https://app.example/b24",
    });
    expect(unbind.body.result).toEqual({ count: 1 });
    expect((await rest("event.get")).body.result).toEqual([]);
  });

  it("delivers an event to the bound handler as a form-encoded POST", async () => {
    const app: HttpFake = await startHttpFake(() => ({ status: 200, body: "ok" }));
    try {
      const handler = `${app.url}/api/bitrix/`;
      await rest("event.bind", { event: "ONIMCONNECTORMESSAGEADD", handler });
      const data = { CONNECTOR: "separator", LINE: 3, MESSAGES: [{ message: { text: "Hi" } }] };
      const delivered = await fake.deliverEvent(portal.memberId, "ONIMCONNECTORMESSAGEADD", data);

      expect(delivered).toEqual([{ handler, status: 200, body: "ok" }]);
      const received = app.requests[0];
      expect(received?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
      expect(received?.form).toMatchObject({
        event: "ONIMCONNECTORMESSAGEADD",
        event_handler_id: String(fake.portal(portal.memberId).events[0]?.id),
        data: { CONNECTOR: "separator", LINE: "3", MESSAGES: [{ message: { text: "Hi" } }] },
        auth: {
          access_token: portal.accessToken,
          member_id: portal.memberId,
          application_token: fake.portal(portal.memberId).applicationToken,
          client_endpoint: fake.clientEndpoint,
        },
      });

      fake.portal(portal.memberId).installed = false;
      expect(await fake.deliverEvent(portal.memberId, "ONIMCONNECTORMESSAGEADD", data)).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

describe("open lines and the connector", () => {
  const registerRequest = fixtureJson<Record<string, unknown>>("bitrix/imconnector_register_request.json");

  async function connectLine(): Promise<number> {
    expect((await rest("imconnector.register", registerRequest)).body.result).toEqual({ result: true });
    const added = await rest("imopenlines.config.add", {
      PARAMS: fixtureJson<{ PARAMS: unknown }>("bitrix/imopenlines_config_add_request.json").PARAMS,
    });
    const line = Number(added.body.result);
    expect(Number.isInteger(line)).toBe(true);
    expect(
      (await rest("imconnector.activate", { CONNECTOR: "myconnector", LINE: line, ACTIVE: "1" })).body.result,
    ).toBe(true);
    return line;
  }

  it("registers the connector (validation errors come back as HTTP 200 result.result=false)", async () => {
    const missing = await rest("imconnector.register", { NAME: "x" });
    expect(missing.status).toBe(200);
    expect(missing.body.result).toMatchObject({ result: false, error: "CONNECTOR_ID_REQUIRED" });
    expect(Object.keys(missing.body.result as object)).toEqual(
      Object.keys(
        fixtureJson<{ result: object }>("bitrix/error_imconnector_register_result_false.json").result,
      ),
    );

    await rest("imconnector.register", registerRequest);
    const list = (await rest("imconnector.list")).body.result as Record<string, string>;
    const documented = fixtureJson<{ result: Record<string, string> }>(
      "bitrix/imconnector_list_response.json",
    );
    expect(list).toMatchObject({ ...documented.result, myconnector: "Mein Connector" });
    expect(fake.portal(portal.memberId).connectors.get("myconnector")?.CHAT_GROUP).toBe(false);
  });

  it("turns the line green on activate and reports it with imconnector.status", async () => {
    const line = await connectLine();
    const status = await rest("imconnector.status", { CONNECTOR: "myconnector", LINE: String(line) });
    const documented = fixtureJson<RestBody>("bitrix/imconnector_status_response.json");
    expect(Object.keys(status.body.result as object)).toEqual(Object.keys(documented.result as object));
    expect(status.body.result).toEqual({
      LINE: line,
      CONNECTOR: "myconnector",
      ERROR: false,
      CONFIGURED: true,
      STATUS: true,
    });

    await rest("imconnector.activate", { CONNECTOR: "myconnector", LINE: line, ACTIVE: "0" });
    expect(
      (await rest("imconnector.status", { CONNECTOR: "myconnector", LINE: line })).body.result,
    ).toMatchObject({
      STATUS: false,
    });
  });

  it("lists, updates and deletes open lines", async () => {
    const line = await connectLine();
    const list = await rest("imopenlines.config.list.get", { PARAMS: { select: ["ID", "LINE_NAME"] } });
    expect(list.body.result).toEqual([{ ID: String(line), LINE_NAME: "Online Store Support Line" }]);
    expect(list.body.total).toBe(1);

    expect(
      (await rest("imopenlines.config.update", { CONFIG_ID: line, PARAMS: { LINE_NAME: "separator_1" } }))
        .body.result,
    ).toBe(true);
    const filtered = await rest("imopenlines.config.list.get", {
      PARAMS: { filter: { LINE_NAME: "separator_1" } },
    });
    expect((filtered.body.result as unknown[]).length).toBe(1);

    expect((await rest("imopenlines.config.delete", { CONFIG_ID: line })).body.result).toBe(true);
    expect(
      (await rest("imconnector.status", { CONNECTOR: "myconnector", LINE: line })).body.result,
    ).toMatchObject({
      STATUS: false,
    });
    expect((await rest("imopenlines.config.delete", {})).body.error).toBe("CONFIG_ID_EMPTY");
  });

  it("answers imconnector.send.messages per message in result.DATA.RESULT[i] and records deliveries", async () => {
    const line = await connectLine();
    const request = fixtureJson<{ MESSAGES: Array<Record<string, Record<string, unknown>>> }>(
      "bitrix/imconnector_send_messages_request.json",
    );
    const good = request.MESSAGES[0] ?? {};
    const noUser = { ...good, user: { name: "Nobody" }, message: { ...good.message, id: "ext-msg-1002" } };
    const rejected = { ...good, message: { ...good.message, id: "ext-msg-1003" } };
    fake.failMessagesWhere(portal.memberId, (item) => item.message.id === "ext-msg-1003", [
      "File download failed",
    ]);

    const response = await rest("imconnector.send.messages", {
      CONNECTOR: "myconnector",
      LINE: line,
      MESSAGES: [good, noUser, rejected],
    });

    expect(response.status).toBe(200);
    const documented = fixtureJson<{ result: { DATA: { RESULT: Array<Record<string, unknown>> } } }>(
      "bitrix/imconnector_send_messages_response.json",
    );
    const result = response.body.result as {
      SUCCESS: boolean;
      DATA: { RESULT: Array<Record<string, unknown>> };
    };
    expect(result.SUCCESS).toBe(true);
    expect(result.DATA.RESULT).toHaveLength(3);
    const [first, second, third] = result.DATA.RESULT;
    expect(Object.keys(first ?? {})).toEqual(Object.keys(documented.result.DATA.RESULT[0] ?? {}));
    expect(first).toMatchObject({
      SUCCESS: true,
      message: { id: "ext-msg-1001", date: {}, text: "Good afternoon" },
      chat: { id: "channel-123", description: "Link to the original post: https://example.com/chats/123" },
      extra: { skip_phone_validate: "Y", disable_tracker: "Y" },
    });
    expect(second).toMatchObject({ SUCCESS: false });
    expect(third).toMatchObject({ SUCCESS: false, ERRORS: ["File download failed"] });

    const delivered = fake.portal(portal.memberId).messages;
    expect(delivered.map((m) => m.message.id)).toEqual(["ext-msg-1001", "ext-msg-1002", "ext-msg-1003"]);
    expect(delivered[0]).toMatchObject({
      connector: "myconnector",
      line: String(line),
      user: { id: "ext-user-42" },
    });

    const again = await rest("imconnector.send.messages", {
      CONNECTOR: "myconnector",
      LINE: line,
      MESSAGES: [good],
    });
    const repeat = (again.body.result as typeof result).DATA.RESULT[0];
    expect(repeat?.session).toEqual(first?.session);
    expect(repeat?.user).toBe(first?.user);
  });

  it("lower-cases MESSAGES keys and parses deep PHP-style form bodies", async () => {
    const line = await connectLine();
    const body = httpBuildQuery({
      CONNECTOR: "myconnector",
      LINE: line,
      MESSAGES: [
        {
          USER: { ID: "u1", NAME: "Ann" },
          MESSAGE: { ID: "m1", TEXT: "photo", FILES: [{ URL: "https://x.example/a.jpg", NAME: "a.jpg" }] },
          CHAT: { ID: "u1" },
        },
      ],
      auth: portal.accessToken,
    });
    const response = await fetch(`${fake.clientEndpoint}imconnector.send.messages`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
    expect(response.status).toBe(200);
    expect(fake.portal(portal.memberId).messages[0]?.message).toEqual({
      id: "m1",
      text: "photo",
      files: [{ url: "https://x.example/a.jpg", name: "a.jpg" }],
    });
  });

  it("refuses empty MESSAGES and inactive lines with the documented errors", async () => {
    const empty = await rest("imconnector.send.messages", {
      CONNECTOR: "myconnector",
      LINE: 1,
      MESSAGES: [],
    });
    expect(empty.status).toBe(400);
    expect(empty.body).toEqual(fixtureJson("bitrix/error_argument_messages_empty.json"));

    const inactive = await rest("imconnector.send.messages", {
      CONNECTOR: "myconnector",
      LINE: 1,
      MESSAGES: [{ user: { id: "1" }, message: { id: "1" }, chat: { id: "1" } }],
    });
    expect(inactive.status).toBe(400);
    expect(inactive.body).toEqual(fixtureJson("bitrix/error_not_active_line.json"));
  });

  it("records delivery and reading statuses", async () => {
    const line = await connectLine();
    const items = [
      { im: { chat_id: 1807, message_id: 86497 }, message: { id: ["wamid.X"], date: 1 }, chat: { id: "c" } },
    ];
    const delivery = await rest("imconnector.send.status.delivery", {
      CONNECTOR: "myconnector",
      LINE: line,
      MESSAGES: items,
    });
    expect(delivery.body.result).toEqual({ SUCCESS: true, DATA: [] });
    await rest("imconnector.send.status.reading", { CONNECTOR: "myconnector", LINE: line, MESSAGES: items });
    const state = fake.portal(portal.memberId);
    expect(state.deliveryStatuses[0]?.items).toEqual(items);
    expect(state.readingStatuses).toHaveLength(1);
  });

  it("follows the docs when greenRequiresDataSet is set", async () => {
    await fake.close();
    fake = await startBitrixFake({ now: () => clock, greenRequiresDataSet: true });
    portal = fake.addPortal(CLIENT);
    const line = await connectLine();
    expect(
      (await rest("imconnector.status", { CONNECTOR: "myconnector", LINE: line })).body.result,
    ).toMatchObject({
      STATUS: false,
    });
    await rest("imconnector.connector.data.set", {
      CONNECTOR: "myconnector",
      LINE: line,
      DATA: { ID: "1", NAME: "+1" },
    });
    expect(
      (await rest("imconnector.status", { CONNECTOR: "myconnector", LINE: line })).body.result,
    ).toMatchObject({
      STATUS: true,
    });
  });
});

describe("batch", () => {
  it("runs commands through the method table, resolves $result references, and reports errors per command", async () => {
    const response = await rest("batch", {
      halt: 0,
      cmd: {
        add: "imopenlines.config.add?PARAMS[LINE_NAME]=separator_100",
        get: "imopenlines.config.get?CONFIG_ID=$result[add]",
        bad: "no.such.method",
        list: "messageservice.sender.list",
      },
    });
    expect(response.status).toBe(200);
    const documented = fixtureJson<{ result: Record<string, unknown> }>("bitrix/batch_response.json");
    const result = response.body.result as Record<string, Record<string, unknown>>;
    expect(Object.keys(result)).toEqual(Object.keys(documented.result));
    expect(result.result?.add).toEqual(expect.any(Number));
    expect(result.result?.get).toMatchObject({ LINE_NAME: "separator_100" });
    expect(result.result?.list).toEqual([]);
    expect(result.result_error).toEqual({
      bad: { error: "ERROR_METHOD_NOT_FOUND", error_description: "Method not found!" },
    });
    expect(Object.keys(result.result_time ?? {})).toEqual(["add", "get", "list"]);
    expect(fake.callCount("batch")).toBe(1);
    expect(fake.callCount("imopenlines.config.add")).toBe(1);
    expect(fake.callCount()).toBe(5);
  });

  it("stops at the first error with halt=1", async () => {
    const cmd = {
      first: "event.get",
      broken: "messageservice.sender.delete?CODE=missing",
      never: "imopenlines.config.add",
    };
    const halted = (await rest("batch", { halt: 1, cmd })).body.result as Record<string, unknown>;
    expect(halted.result).toEqual({ first: [] });
    expect(halted.result_error).toEqual({
      broken: { error: "ERROR_SENDER_NOT_FOUND", error_description: "Sender not found!" },
    });
    expect(fake.callCount("imopenlines.config.add")).toBe(0);

    const all = (await rest("batch", { halt: 0, cmd })).body.result as Record<
      string,
      Record<string, unknown>
    >;
    expect(Object.keys(all.result ?? {})).toEqual(["first", "never"]);
  });

  it("matches the documented all-errors shape (empty sections are [])", async () => {
    const response = await rest("batch", { halt: 0, cmd: { a: "nope.a", b: "nope.b" } });
    const documented = fixtureJson<{ result: Record<string, unknown> }>(
      "bitrix/batch_response_error_halt0.json",
    );
    const result = response.body.result as Record<string, unknown>;
    expect(result.result).toEqual(documented.result.result);
    expect(result.result_total).toEqual([]);
    expect(Object.keys(result.result_error as object)).toEqual(["a", "b"]);
  });

  it("applies scripted method failures inside batch too", async () => {
    fake.failMethod("event.get", {
      status: 500,
      error: "INTERNAL_SERVER_ERROR",
      error_description: "Internal server error",
    });
    const response = await rest("batch", { cmd: { e: "event.get" } });
    expect((response.body.result as Record<string, unknown>).result_error).toEqual({
      e: { error: "INTERNAL_SERVER_ERROR", error_description: "Internal server error" },
    });
    expect((await rest("event.get")).status).toBe(200);
  });

  it("refuses more than 50 commands and nested batches", async () => {
    const cmd = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`c${i}`, "event.get"]));
    expect((await rest("batch", { cmd })).body.error).toBe("ERROR_BATCH_LENGTH_EXCEEDED");
    const nested = (await rest("batch", { cmd: { n: "batch?cmd[x]=event.get" } })).body.result as Record<
      string,
      unknown
    >;
    expect(nested.result_error).toMatchObject({ n: { error: "ERROR_BATCH_METHOD_NOT_ALLOWED" } });
  });
});

describe("SMS provider (messageservice)", () => {
  it("adds, lists and deletes senders with the documented validation", async () => {
    const request = fixtureJson<Record<string, unknown>>("bitrix/messageservice_sender_add_request.json");
    expect((await rest("messageservice.sender.add", request)).body.result).toBe(true);
    const duplicate = await rest("messageservice.sender.add", request);
    expect(duplicate.body.error).toBe("ERROR_SENDER_ALREADY_INSTALLED");
    expect(
      (await rest("messageservice.sender.add", { ...request, CODE: "x2", TYPE: "MMS" })).body.error,
    ).toBe("ERROR_SENDER_VALIDATION_FAILURE");
    expect((await rest("messageservice.sender.list")).body.result).toEqual(["provider1"]);
    expect((await rest("messageservice.sender.delete", { CODE: "provider1" })).body.result).toBe(true);
    expect((await rest("messageservice.sender.delete", { CODE: "provider1" })).body.error).toBe(
      "ERROR_SENDER_NOT_FOUND",
    );
  });

  it("accepts status updates only for messages Bitrix24 handed to the app", async () => {
    await rest("messageservice.sender.add", fixtureJson("bitrix/messageservice_sender_add_request.json"));
    fake.messageserviceHandlerBody(portal.memberId, {
      code: "provider1",
      messageTo: "+19990000000",
      messageBody: "Hi",
      messageId: "65575980fa531ac284c2ee68f81ebebd",
    });
    const update = fixtureJson<Record<string, unknown>>(
      "bitrix/messageservice_message_status_update_request.json",
    );
    expect((await rest("messageservice.message.status.update", update)).body.result).toBe(true);
    expect(fake.portal(portal.memberId).smsStatuses).toMatchObject([
      { code: "provider1", messageId: "65575980fa531ac284c2ee68f81ebebd", status: "delivered" },
    ]);

    const wrongStatus = await rest("messageservice.message.status.update", { ...update, STATUS: "read" });
    expect(wrongStatus.status).toBe(400);
    expect(wrongStatus.body).toEqual(fixtureJson("bitrix/error_messageservice_status_incorrect.json"));
    const unknown = await rest("messageservice.message.status.update", { ...update, MESSAGE_ID: "nope" });
    expect(unknown.body.error).toBe("ERROR_MESSAGE_NOT_FOUND");
  });
});
