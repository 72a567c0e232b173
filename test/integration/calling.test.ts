import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRuntime } from "#shared/runtime.ts";
import { DEFAULT_GRAPH_API_VERSION } from "#shared/schemas/admin.ts";
import type { RecordedRequest } from "../fakes/http-fake.ts";
import { fixtureJson } from "../fixtures.ts";
import { PHONE_ID, startWorld, WABA_TOKEN, type World } from "../support/world.ts";

let world: World;

beforeAll(async () => {
  world = await startWorld();
});

afterAll(async () => {
  await world?.stop();
});

const CALLING = `/api/admin/phones/${PHONE_ID}/calling`;
/** Documented calling error (meta-whatsapp.md §6.4): calling cannot be enabled, messaging limit < 2000. */
const CANNOT_ENABLE = 138015;

const isSettings = (req: RecordedRequest) => req.path.endsWith("/settings");
const settingsRequests = () => world.meta.requests.filter(isSettings);
const lastSettingsBody = () => settingsRequests().at(-1)?.json;
const put = (body: unknown) => world.stack.admin("PUT", CALLING, body);
const get = () => world.stack.admin("GET", CALLING);
const phone = () => world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`);

/** Meta's stored SIP server of our number (the fake's `GET /{phone-id}/settings?include_sip_credentials`). */
const metaServers = () =>
  (world.meta.callingSettings(PHONE_ID)?.sip as { servers: Record<string, unknown>[] } | undefined)?.servers;

describe("calling settings of a number never configured", () => {
  it("GET shows Meta's defaults and that nothing was set; the phone resource shows the same", async () => {
    const never = {
      calling: "disabled",
      sip: { status: "disabled", host: null, port: 5061 },
      error: null,
      updatedAt: null,
    };
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.body).toEqual(never);
    expect((await phone()).body.calling).toEqual(never);
  });

  it("refuses to enable SIP without a server, before asking Meta", async () => {
    const res = await put({ calling: "enabled", sip: { status: "enabled" } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
    expect(res.body.error.details).toEqual([expect.objectContaining({ path: ["sip", "host"] })]);
    expect(settingsRequests()).toHaveLength(0);
  });
});

describe("PUT /api/admin/phones/{phoneId}/calling", () => {
  it("enables calls and the SIP trunk on Meta with the documented body, default TLS port 5061", async () => {
    const res = await put({ calling: "enabled", sip: { status: "enabled", host: "SIP.Example.com " } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      calling: "enabled",
      sip: { status: "enabled", host: "sip.example.com", port: 5061 },
      error: null,
    });
    expect(Date.parse(res.body.updatedAt)).not.toBeNaN();

    const sent = settingsRequests();
    expect(sent).toHaveLength(1);
    const [req] = sent as [RecordedRequest];
    expect(req.method).toBe("POST");
    expect(req.path).toBe(`/${DEFAULT_GRAPH_API_VERSION}/${PHONE_ID}/settings`);
    expect(req.headers.authorization).toBe(`Bearer ${WABA_TOKEN}`);
    // The SIP page's "enable calling + SIP, add server" body, with the port of the call-settings page.
    expect(req.json).toMatchObject(fixtureJson<object>("meta/calling_settings_post_enable_sip.json"));
    expect(req.json).toEqual({
      calling: {
        status: "ENABLED",
        sip: { status: "ENABLED", servers: [{ hostname: "sip.example.com", port: 5061 }] },
      },
    });
    expect(world.meta.callingSettings(PHONE_ID)).toMatchObject({
      status: "ENABLED",
      sip: { status: "ENABLED", servers: [{ hostname: "sip.example.com", port: 5061 }] },
    });
  });

  it("GET returns what was applied, and the phone resource shows it", async () => {
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      calling: "enabled",
      sip: { status: "enabled", host: "sip.example.com", port: 5061 },
      error: null,
    });
    const shown = await phone();
    expect(shown.status).toBe(200);
    expect(shown.body.calling).toEqual(res.body);
    expect(shown.body.connector.status).toBe("active");
    const listed = await world.stack.admin("GET", "/api/admin/phones");
    expect(listed.body.items.find((p: { phoneId: string }) => p.phoneId === PHONE_ID).calling).toEqual(
      res.body,
    );
  });

  it("a change of the phone (PATCH, which reconnects it) keeps its calling settings", async () => {
    const before = (await get()).body;
    const patched = await world.stack.admin("PATCH", `/api/admin/phones/${PHONE_ID}`, {});
    expect(patched.status).toBe(200);
    expect(patched.body.calling).toEqual(before);
    expect((await get()).body).toEqual(before);
  });

  it("sends the port asked for", async () => {
    const res = await put({ calling: "enabled", sip: { status: "enabled", host: "10.0.0.7", port: 5062 } });
    expect(res.status).toBe(200);
    expect(res.body.sip).toEqual({ status: "enabled", host: "10.0.0.7", port: 5062 });
    expect(lastSettingsBody()).toEqual({
      calling: {
        status: "ENABLED",
        sip: { status: "ENABLED", servers: [{ hostname: "10.0.0.7", port: 5062 }] },
      },
    });
  });

  it("disabling SIP keeps sending the configured server, so Meta keeps it and its SIP password", async () => {
    const before = await put({ calling: "enabled", sip: { status: "enabled", host: "sip.example.com" } });
    expect(before.status).toBe(200);
    const password = metaServers()?.[0]?.sip_user_password;
    expect(password).toEqual(expect.any(String));

    // The host may be left out: the configured one is kept.
    const res = await put({ calling: "enabled", sip: { status: "disabled" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      calling: "enabled",
      sip: { status: "disabled", host: "sip.example.com", port: 5061 },
      error: null,
    });
    expect(lastSettingsBody()).toEqual({
      calling: {
        status: "ENABLED",
        sip: { status: "DISABLED", servers: [{ hostname: "sip.example.com", port: 5061 }] },
      },
    });
    expect(world.meta.callingSettings(PHONE_ID)).toMatchObject({ sip: { status: "DISABLED" } });
    expect(metaServers()).toEqual([
      expect.objectContaining({ hostname: "sip.example.com", port: 5061, sip_user_password: password }),
    ]);

    // Never the "reset SIP password" body: servers are not sent empty.
    const cleared = fixtureJson<{ calling: { sip: { servers: unknown[] } } }>(
      "meta/calling_settings_post_disable_sip_clear_servers.json",
    );
    expect(cleared.calling.sip.servers).toEqual([]);
    for (const req of settingsRequests()) {
      expect((req.json as typeof cleared).calling.sip.servers).not.toEqual([]);
    }

    // Disabling with the host given, and calls off altogether, keep it too.
    const off = await put({ calling: "disabled", sip: { status: "disabled", host: "sip.example.com" } });
    expect(off.status).toBe(200);
    expect(lastSettingsBody()).toEqual({
      calling: {
        status: "DISABLED",
        sip: { status: "DISABLED", servers: [{ hostname: "sip.example.com", port: 5061 }] },
      },
    });
    expect(metaServers()?.[0]?.sip_user_password).toBe(password);

    // Enabling again without a host uses the configured server.
    const on = await put({ calling: "enabled", sip: { status: "enabled" } });
    expect(on.status).toBe(200);
    expect(on.body.sip).toEqual({ status: "enabled", host: "sip.example.com", port: 5061 });
    expect(metaServers()?.[0]?.sip_user_password).toBe(password);
  });

  it("Meta's refusal answers 502 with its code; the asked settings are stored with the error", async () => {
    world.meta.failNext(isSettings, CANNOT_ENABLE);
    const asked = { calling: "enabled", sip: { status: "enabled", host: "pbx.example.org", port: 5071 } };
    const res = await put(asked);
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({
      calling: "enabled",
      sip: { status: "enabled", host: "pbx.example.org", port: 5071 },
      error: {
        code: CANNOT_ENABLE,
        message: expect.stringContaining(String(CANNOT_ENABLE)),
        details: "Messaging limit is lower than 2000.",
      },
    });
    // Meta got the request (and refused it): the server it has is still the old one.
    expect(settingsRequests().at(-1)?.json).toMatchObject({
      calling: { sip: { servers: [{ hostname: "pbx.example.org", port: 5071 }] } },
    });
    expect(metaServers()).toEqual([expect.objectContaining({ hostname: "sip.example.com" })]);

    const stored = await get();
    expect(stored.status).toBe(200);
    expect(stored.body).toEqual(res.body);
    expect((await phone()).body.calling).toEqual(res.body);
  });

  it("a later successful PUT clears the error", async () => {
    const res = await put({
      calling: "enabled",
      sip: { status: "enabled", host: "pbx.example.org", port: 5071 },
    });
    expect(res.status).toBe(200);
    expect(res.body.error).toBeNull();
    expect((await get()).body.error).toBeNull();
    expect(metaServers()).toEqual([expect.objectContaining({ hostname: "pbx.example.org", port: 5071 })]);
  });

  it("Meta out of reach is 502 too, with no Meta code", async () => {
    world.meta.inject({ match: isSettings, response: { resetConnection: true } });
    const res = await put({
      calling: "enabled",
      sip: { status: "enabled", host: "pbx.example.org", port: 5071 },
    });
    expect(res.status).toBe(502);
    expect(res.body.error).toMatchObject({ code: null, message: expect.stringContaining("unreachable") });
    expect((await get()).body.error).toEqual(res.body.error);
    expect((await put({ calling: "enabled", sip: { status: "enabled" } })).status).toBe(200);
  });

  it.each([
    [
      "a host with a scheme",
      { calling: "enabled", sip: { status: "enabled", host: "sips://sip.example.com" } },
      "host",
    ],
    [
      "a host with a port",
      { calling: "enabled", sip: { status: "enabled", host: "sip.example.com:5061" } },
      "host",
    ],
    [
      "a host with a path",
      { calling: "enabled", sip: { status: "enabled", host: "sip.example.com/trunk" } },
      "host",
    ],
    [
      "port 70000",
      { calling: "enabled", sip: { status: "enabled", host: "sip.example.com", port: 70000 } },
      "port",
    ],
    ["port 0", { calling: "enabled", sip: { status: "enabled", host: "sip.example.com", port: 0 } }, "port"],
    [
      "a port as text",
      { calling: "enabled", sip: { status: "enabled", host: "sip.example.com", port: "5061" } },
      "port",
    ],
    ['calling "maybe"', { calling: "maybe", sip: { status: "enabled", host: "sip.example.com" } }, "calling"],
    ['sip status "on"', { calling: "enabled", sip: { status: "on", host: "sip.example.com" } }, "status"],
    ["no sip", { calling: "enabled" }, "sip"],
    ["an unknown field", { calling: "enabled", sip: { status: "disabled" }, voicemail: true }, ""],
  ])("rejects %s with 400 and the zod issues, asking Meta nothing", async (_, body, field) => {
    const before = settingsRequests().length;
    const previous = (await get()).body;
    const res = await put(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
    expect(Array.isArray(res.body.error.details)).toBe(true);
    const paths = (res.body.error.details as { path: string[] }[]).map((i) => i.path.at(-1) ?? "");
    if (field) expect(paths).toContain(field);
    expect(settingsRequests()).toHaveLength(before);
    expect((await get()).body).toEqual(previous);
  });

  it("rejects a body that is not JSON object", async () => {
    expect((await put(undefined)).status).toBe(400);
    expect((await put(["enabled"])).status).toBe(400);
  });

  it("answers 404 for an unknown number, without asking Meta", async () => {
    const before = settingsRequests().length;
    const unknown = "/api/admin/phones/999000111222/calling";
    const got = await world.stack.admin("GET", unknown);
    expect(got.status).toBe(404);
    expect(got.body.error.code).toBe("not_found");
    const res = await world.stack.admin("PUT", unknown, {
      calling: "enabled",
      sip: { status: "enabled", host: "sip.example.com" },
    });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
    expect(settingsRequests()).toHaveLength(before);
  });

  it("needs the admin token", async () => {
    const res = await fetch(`${world.stack.url}${CALLING}`);
    expect(res.status).toBe(401);
  });
});

describe("OpenAPI", () => {
  it("documents GET and PUT /api/admin/phones/{phoneId}/calling with the 502 answer and the default port", async () => {
    const doc = (await (await fetch(`${world.stack.url}/api/admin/openapi.json`)).json()) as any;
    const item = doc.paths["/api/admin/phones/{phoneId}/calling"];
    expect(item).toBeDefined();
    expect(item.get.responses["200"].content["application/json"].schema.properties).toHaveProperty("error");
    expect(item.put.parameters).toEqual([expect.objectContaining({ name: "phoneId", in: "path" })]);
    const request = item.put.requestBody.content["application/json"].schema;
    expect(request.properties.calling.enum).toEqual(["enabled", "disabled"]);
    expect(request.properties.sip.properties.port.description).toMatch(/5061/);
    expect(item.put.responses["502"].content["application/json"].schema).toEqual(
      item.put.responses["200"].content["application/json"].schema,
    );
    const phone =
      doc.paths["/api/admin/phones/{phoneId}"].get.responses["200"].content["application/json"].schema;
    expect(phone.properties.calling.properties).toHaveProperty("sip");
  });
});

describe("calling settings and other phone changes", () => {
  it("a phone PATCH does not write back older calling settings", async () => {
    const { bitrixStore } = await getRuntime();
    const stale = await bitrixStore.getPhone(PHONE_ID);
    const put = await world.stack.admin("PUT", `/api/admin/phones/${PHONE_ID}/calling`, {
      calling: "enabled",
      sip: { status: "enabled", host: "race.example.com" },
    });
    expect(put.status).toBe(200);
    // A connect that read the phone before the PUT saves it afterwards.
    await bitrixStore.putPhone({ ...stale!, updatedAt: new Date().toISOString() }, stale!);
    const after = await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}/calling`);
    expect(after.body.sip.host).toBe("race.example.com");
  });
});

describe("SIP port without a host", () => {
  it("changes the port of the server already configured", async () => {
    expect(
      (await put({ calling: "enabled", sip: { status: "enabled", host: "port.example.com" } })).status,
    ).toBe(200);
    const changed = await put({ calling: "enabled", sip: { status: "enabled", port: 5070 } });
    expect(changed.status).toBe(200);
    expect(changed.body.sip).toMatchObject({ host: "port.example.com", port: 5070 });
  });
});
