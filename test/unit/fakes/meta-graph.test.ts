import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MetaGraphFake } from "../../fakes/meta-graph.ts";
import { graphError, signWebhook, startMetaGraphFake } from "../../fakes/meta-graph.ts";
import { fixtureBytes, fixtureJson } from "../../fixtures.ts";

const TOKEN = "EAAJ-test-token";
const WABA = "102290129340398";
const PHONE = "106540352242922";

interface GraphErrorBody {
  error: Record<string, unknown>;
}

let fake: MetaGraphFake;
let clock: number;

beforeEach(async () => {
  clock = Date.UTC(2026, 0, 1);
  fake = await startMetaGraphFake({ now: () => clock });
  fake.addToken(TOKEN);
});

afterEach(async () => {
  await fake.close();
});

function graph(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  return fetch(`${fake.url}${path}`, { ...init, headers });
}

function postJson(path: string, body: unknown, token?: string | null): Promise<Response> {
  return graph(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    token,
  });
}

describe("signWebhook", () => {
  it("matches the documented test vector (HMAC-SHA256 over the exact file bytes)", () => {
    const vector = fixtureJson<Record<string, string | number>>("meta/webhook_signature_vector.json");
    const raw = fixtureBytes(`meta/${vector.raw_body_file}`);

    expect(raw.length).toBe(vector.raw_body_length);
    expect(createHash("sha256").update(raw).digest("hex")).toBe(vector.raw_body_sha256_of_bytes);
    expect(signWebhook(raw, String(vector.app_secret))).toBe(vector.header_value);
    expect(signWebhook(raw.toString("utf8"), String(vector.app_secret))).toBe(vector.header_value);
    // Re-serialising the JSON changes the bytes and therefore the signature.
    expect(signWebhook(JSON.stringify(JSON.parse(raw.toString("utf8"))), String(vector.app_secret))).not.toBe(
      vector.header_value,
    );
  });
});

describe("authentication", () => {
  it("answers an unknown bearer token with HTTP 401 and the documented code-190 body", async () => {
    const documented = fixtureJson<GraphErrorBody>("meta/error_response_190_openapi.json");
    const response = await postJson(`/v23.0/${PHONE}/messages`, { messaging_product: "whatsapp" }, "bogus");

    expect(response.status).toBe(401);
    const body = (await response.json()) as GraphErrorBody;
    expect(Object.keys(body.error)).toEqual(Object.keys(documented.error));
    expect({ ...body.error, fbtrace_id: "x" }).toEqual({ ...documented.error, fbtrace_id: "x" });
    expect(fake.sentMessages).toHaveLength(0);
  });

  it("answers a missing or revoked token with 401 as well", async () => {
    expect((await graph(`/v23.0/${WABA}/message_templates`, { token: null })).status).toBe(401);
    fake.revokeToken(TOKEN);
    expect((await graph(`/v23.0/${WABA}/message_templates`)).status).toBe(401);
  });

  it("accepts the token as access_token query parameter", async () => {
    const response = await fetch(`${fake.url}/v23.0/${WABA}/message_templates?access_token=${TOKEN}`);
    expect(response.status).toBe(200);
  });

  it("refuses objects outside a scoped token with Graph's 100/33 error", async () => {
    fake.addToken("scoped", { wabaIds: ["1"], phoneIds: ["2"] });
    const response = await graph(`/v23.0/${WABA}/subscribed_apps`, { method: "POST", token: "scoped" });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as GraphErrorBody;
    expect(error).toMatchObject({ code: 100, error_subcode: 33, type: "GraphMethodException" });
  });

  it("only serves versioned paths", async () => {
    const response = await graph(`/${PHONE}/messages`, { method: "POST" });
    expect(response.status).toBe(400);
    expect(((await response.json()) as GraphErrorBody).error.code).toBe(2500);
  });
});

describe("message templates", () => {
  it("pages with cursors and an absolute paging.next until the last page", async () => {
    const documented = fixtureJson<{ data: Array<Record<string, unknown>> }>(
      "meta/message_templates_list_response.json",
    );
    const templates = Array.from({ length: 7 }, (_, i) => ({
      ...documented.data[i % 2],
      id: String(1000 + i),
      name: `template_${i}`,
    }));
    fake.setTemplates(WABA, templates);

    const names: string[] = [];
    let url: string | undefined = `${fake.url}/v23.0/${WABA}/message_templates?limit=3`;
    let pages = 0;
    while (url) {
      expect(url.startsWith(fake.url)).toBe(true);
      const response = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(response.status).toBe(200);
      const page = (await response.json()) as {
        data: Array<{ name: string }>;
        paging: { cursors: { before: string; after: string }; next?: string };
      };
      expect(Object.keys(page)).toEqual(["data", "paging"]);
      expect(typeof page.paging.cursors.before).toBe("string");
      expect(typeof page.paging.cursors.after).toBe("string");
      names.push(...page.data.map((t) => t.name));
      url = page.paging.next;
      pages += 1;
    }

    expect(pages).toBe(3);
    expect(names).toEqual(templates.map((t) => t.name));
  });

  it("filters by name and returns an empty list for an unknown WABA", async () => {
    fake.setTemplates(WABA, [
      { name: "a", status: "APPROVED" },
      { name: "b", status: "REJECTED" },
    ]);
    const byName = (await (await graph(`/v23.0/${WABA}/message_templates?name=b`)).json()) as {
      data: unknown[];
    };
    expect(byName.data).toEqual([{ name: "b", status: "REJECTED" }]);
    const empty = await (await graph("/v23.0/999/message_templates")).json();
    expect(empty).toEqual({ data: [] });
  });
});

describe("sending messages", () => {
  const text = fixtureJson<Record<string, unknown>>("meta/send_text_preview_url.json");

  it("answers the documented shape with a fresh wamid each time and records the message", async () => {
    const documented = fixtureJson<Record<string, unknown>>("meta/send_message_response.json");
    const first = (await (await postJson(`/v23.0/${PHONE}/messages`, text)).json()) as {
      messages: Array<{ id: string }>;
      contacts: Array<{ input: string; wa_id: string }>;
    };
    const second = (await (await postJson(`/v23.0/${PHONE}/messages`, text)).json()) as typeof first;

    expect(Object.keys(first)).toEqual(Object.keys(documented));
    expect(first.contacts[0]).toEqual({ input: text.to, wa_id: String(text.to).replace(/\D/g, "") });
    expect(first.messages[0]?.id).toMatch(/^wamid\./);
    expect(first.messages[0]?.id).not.toBe(second.messages[0]?.id);
    expect(fake.sentMessages).toHaveLength(2);
    expect(fake.sentMessages[0]).toMatchObject({ phoneId: PHONE, type: "text", to: text.to, token: TOKEN });
    expect(fake.sentMessages[0]?.wamid).toBe(first.messages[0]?.id);
    expect(fake.messagesTo(String(text.to))).toHaveLength(2);
  });

  it("validates messaging_product and to", async () => {
    const noProduct = await postJson(`/v23.0/${PHONE}/messages`, {
      to: "1",
      type: "text",
      text: { body: "x" },
    });
    expect(noProduct.status).toBe(400);
    expect(((await noProduct.json()) as GraphErrorBody).error.code).toBe(100);

    const noTo = await postJson(`/v23.0/${PHONE}/messages`, {
      messaging_product: "whatsapp",
      type: "text",
      text: { body: "x" },
    });
    expect(noTo.status).toBe(400);
    expect(((await noTo.json()) as GraphErrorBody).error.message).toContain("to");
    expect(fake.sentMessages).toHaveLength(0);
  });

  it("treats mark-as-read as a receipt, not a message", async () => {
    const response = await postJson(`/v23.0/${PHONE}/messages`, {
      messaging_product: "whatsapp",
      status: "read",
      message_id: "wamid.X",
    });
    expect(await response.json()).toEqual({ success: true });
    expect(fake.readReceipts).toMatchObject([{ phoneId: PHONE, messageId: "wamid.X" }]);
    expect(fake.sentMessages).toHaveLength(0);
  });

  it("fails the next matching calls with documented Graph errors", async () => {
    fake.failNext(/\/messages$/, 130429);
    fake.failNext(/\/messages$/, 131047);

    const throttled = await postJson(`/v23.0/${PHONE}/messages`, text);
    expect(throttled.status).toBe(429);
    const documented = fixtureJson<GraphErrorBody>("meta/error_response_130429.json");
    const body = (await throttled.json()) as GraphErrorBody;
    expect({ ...body.error, fbtrace_id: "x" }).toEqual({ ...documented.error, fbtrace_id: "x" });

    const window = (await (await postJson(`/v23.0/${PHONE}/messages`, text)).json()) as GraphErrorBody;
    expect(window.error).toMatchObject({
      code: 131047,
      type: "OAuthException",
      error_data: { messaging_product: "whatsapp" },
    });
    expect(window.error.message).toBe("(#131047) Re-engagement message");

    expect((await postJson(`/v23.0/${PHONE}/messages`, text)).status).toBe(200);
    expect(fake.sentMessages).toHaveLength(1);
  });

  it("scripts a bare server error with code 500", () => {
    const response = graphError(500);
    expect(response.status).toBe(500);
    expect((response.body as GraphErrorBody).error).toMatchObject({ code: 1, is_transient: true });
  });
});

describe("media", () => {
  const bytes = Buffer.from("\xff\xd8\xff fake jpeg", "latin1");

  it("describes media with a download URL on the fake that needs the bearer token", async () => {
    fake.addMedia("2621233374848975", { mimeType: "image/jpeg", bytes });
    const documented = fixtureJson<Record<string, unknown>>("meta/media_get_url_response.json");

    const info = (await (await graph("/v23.0/2621233374848975")).json()) as Record<string, string>;
    expect(Object.keys(info)).toEqual(Object.keys(documented));
    expect(info).toMatchObject({
      id: "2621233374848975",
      messaging_product: "whatsapp",
      mime_type: "image/jpeg",
      file_size: String(bytes.length),
      sha256: createHash("sha256").update(bytes).digest("base64"),
    });
    const url = String(info.url);
    expect(url.startsWith(`${fake.url}/`)).toBe(true);

    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: "Bearer nope" } })).status).toBe(401);

    const download = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(download.status).toBe(200);
    expect(download.headers.get("content-type")).toBe("image/jpeg");
    expect(Buffer.from(await download.arrayBuffer())).toEqual(bytes);
  });

  it("expires download URLs after five minutes (404: fetch a new URL)", async () => {
    fake.addMedia("m1", { mimeType: "image/png", bytes });
    const info = (await (await graph("/v23.0/m1")).json()) as { url: string };
    clock += 5 * 60 * 1000 + 1;
    const stale = await fetch(info.url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(stale.status).toBe(404);
  });

  it("answers an unknown media id with Graph's 100/33 error", async () => {
    const response = await graph("/v23.0/404404");
    expect(response.status).toBe(400);
    expect(((await response.json()) as GraphErrorBody).error).toMatchObject({ code: 100, error_subcode: 33 });
  });

  it("accepts multipart uploads and serves them back", async () => {
    const form = new FormData();
    form.set("messaging_product", "whatsapp");
    form.set("type", "application/pdf");
    form.set("file", new Blob([bytes], { type: "application/pdf" }), "spec.pdf");
    const response = await graph(`/v23.0/${PHONE}/media`, { method: "POST", body: form });

    expect(response.status).toBe(200);
    const body = (await response.json()) as { id: string };
    expect(Object.keys(body)).toEqual(Object.keys(fixtureJson<object>("meta/media_upload_response.json")));
    expect(fake.uploads).toMatchObject([{ id: body.id, mimeType: "application/pdf" }]);
    expect(fake.uploads[0]?.bytes).toEqual(bytes);
    expect(fake.uploads[0]?.fileName).toBe("spec.pdf");
    const info = (await (await graph(`/v23.0/${body.id}`)).json()) as { mime_type: string };
    expect(info.mime_type).toBe("application/pdf");
  });

  it("rejects uploads without messaging_product or with an unsupported type", async () => {
    const noProduct = new FormData();
    noProduct.set("file", new Blob([bytes], { type: "image/png" }), "a.png");
    expect((await graph(`/v23.0/${PHONE}/media`, { method: "POST", body: noProduct })).status).toBe(400);

    const exe = new FormData();
    exe.set("messaging_product", "whatsapp");
    exe.set("file", new Blob([bytes], { type: "application/x-msdownload" }), "a.exe");
    const response = await graph(`/v23.0/${PHONE}/media`, { method: "POST", body: exe });
    expect(((await response.json()) as GraphErrorBody).error.code).toBe(131053);
  });
});

describe("subscribed_apps", () => {
  it("subscribes the app and lists it in the documented shape", async () => {
    const before = await (await graph(`/v23.0/${WABA}/subscribed_apps`)).json();
    expect(before).toEqual({ data: [] });

    const subscribe = await graph(`/v23.0/${WABA}/subscribed_apps`, { method: "POST" });
    expect(await subscribe.json()).toEqual({ success: true });

    const documented = fixtureJson<{ data: Array<Record<string, Record<string, unknown>>> }>(
      "meta/subscribed_apps_get_response.json",
    );
    const list = (await (await graph(`/v23.0/${WABA}/subscribed_apps`)).json()) as typeof documented;
    expect(list.data).toHaveLength(1);
    expect(Object.keys(list.data[0]?.whatsapp_business_api_data ?? {})).toEqual(
      Object.keys(documented.data[0]?.whatsapp_business_api_data ?? {}),
    );
    expect(list.data[0]?.whatsapp_business_api_data?.id).toBe(fake.appId);
    expect(fake.subscriptions(WABA)).toHaveLength(1);
  });

  it("stores an override callback and drops it on a plain re-subscribe", async () => {
    const override = fixtureJson<Record<string, string>>("meta/subscribed_apps_post_override.json");
    await postJson(`/v23.0/${WABA}/subscribed_apps`, override);
    const list = (await (await graph(`/v23.0/${WABA}/subscribed_apps`)).json()) as {
      data: Array<Record<string, unknown>>;
    };
    expect(list.data[0]?.override_callback_uri).toBe(override.override_callback_uri);

    await graph(`/v23.0/${WABA}/subscribed_apps`, { method: "POST" });
    expect(fake.subscriptions(WABA)[0]?.overrideCallbackUri).toBeUndefined();
  });
});

describe("calling settings", () => {
  it("stores what was posted and reports it in the documented GET shape", async () => {
    const full = fixtureJson<{ calling: Record<string, unknown> }>(
      "meta/calling_settings_post_full_normalized.json",
    );
    const post = await postJson(`/v23.0/${PHONE}/settings`, full);
    expect(await post.json()).toEqual({ success: true });
    expect(fake.settingsPosts).toHaveLength(1);

    const documented = fixtureJson<{ calling: { sip: { servers: Array<Record<string, unknown>> } } }>(
      "meta/calling_settings_get_include_sip_credentials_normalized.json",
    );
    const withCredentials = (await (
      await graph(`/v23.0/${PHONE}/settings?include_sip_credentials=true`)
    ).json()) as typeof documented & { calling: Record<string, unknown> };
    expect(withCredentials.calling).toMatchObject({
      status: "ENABLED",
      call_icon_visibility: "DEFAULT",
      callback_permission_status: "ENABLED",
      call_hours: full.calling.call_hours,
      sip: { status: "ENABLED" },
    });
    const server = withCredentials.calling.sip.servers[0] ?? {};
    for (const key of Object.keys(documented.calling.sip.servers[0] ?? {}))
      expect(server).toHaveProperty(key);
    expect(server).toMatchObject({ app_id: fake.appId, hostname: "sip.example.com", port: 5061 });

    const plain = (await (await graph(`/v23.0/${PHONE}/settings`)).json()) as typeof documented;
    expect(plain.calling.sip.servers[0]).not.toHaveProperty("sip_user_password");
  });

  it("keeps servers when SIP is disabled, and issues a new password after clearing them", async () => {
    await postJson(`/v23.0/${PHONE}/settings`, fixtureJson("meta/calling_settings_post_enable_sip.json"));
    const first = fake.callingSettings(PHONE) as { sip: { servers: Array<{ sip_user_password?: string }> } };
    const password = first.sip.servers[0]?.sip_user_password;
    expect(password).toBeTruthy();

    await postJson(`/v23.0/${PHONE}/settings`, { calling: { sip: { status: "DISABLED" } } });
    const disabled = fake.callingSettings(PHONE) as typeof first & { sip: { status: string } };
    expect(disabled.sip.status).toBe("DISABLED");
    expect(disabled.sip.servers).toHaveLength(1);

    await postJson(
      `/v23.0/${PHONE}/settings`,
      fixtureJson("meta/calling_settings_post_disable_sip_clear_servers.json"),
    );
    expect((fake.callingSettings(PHONE) as typeof first).sip.servers).toHaveLength(0);
    await postJson(`/v23.0/${PHONE}/settings`, fixtureJson("meta/calling_settings_post_enable_sip.json"));
    const reset = fake.callingSettings(PHONE) as typeof first;
    expect(reset.sip.servers[0]?.sip_user_password).not.toBe(password);
  });
});
