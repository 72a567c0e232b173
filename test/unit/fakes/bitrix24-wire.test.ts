/**
 * The bodies the Bitrix24 fake builds must be byte-for-byte what the documented raw fixtures show, and must
 * parse back (qs, depth 20) to the documented JSON with every scalar stringified — as Bitrix24's
 * http_build_query wire form does.
 */
import qs from "qs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BitrixFake } from "../../fakes/bitrix24.ts";
import { startBitrixFake } from "../../fakes/bitrix24.ts";
import { fixtureJson, fixtureText } from "../../fixtures.ts";

interface EventFixture {
  event: string;
  event_handler_id?: number;
  eventId?: number;
  data: unknown;
  ts: number | string;
  auth: Record<string, string | number>;
}

let fake: BitrixFake;

beforeAll(async () => {
  fake = await startBitrixFake();
});

afterAll(async () => {
  await fake.close();
});

/** What PHP's http_build_query + qs.parse does to a value: scalars become strings, empty arrays vanish. */
function asWire(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asWire);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asWire(v)]));
  }
  if (value === true) return "1";
  if (value === false) return "0";
  return value === null ? "" : String(value);
}

/** A portal holding exactly the fixture's identity, so the fake can rebuild the fixture's body. */
function portalFor(auth: EventFixture["auth"]): string {
  const memberId = `${auth.member_id}`;
  const existing = fake.portals.find((p) => p.memberId === memberId);
  const portal = existing ?? fake.portal(fake.addPortal({ memberId }).memberId);
  portal.domain = String(auth.domain);
  portal.applicationToken = String(auth.application_token);
  if (auth.scope !== undefined) portal.scope = String(auth.scope);
  if (auth.status !== undefined) portal.status = String(auth.status);
  if (auth.user_id !== undefined) portal.userId = Number(auth.user_id);
  if (auth.access_token !== undefined) portal.accessToken = String(auth.access_token);
  if (auth.refresh_token !== undefined) portal.refreshToken = String(auth.refresh_token);
  return memberId;
}

/** Endpoints (and `expires`, tied to the token) are the fake's own; take the fixture's for the comparison. */
function documentedAuthValues(auth: EventFixture["auth"]): Record<string, unknown> {
  const overrides: Record<string, unknown> = {
    client_endpoint: auth.client_endpoint,
    server_endpoint: auth.server_endpoint,
  };
  if (auth.expires !== undefined) overrides.expires = auth.expires;
  return overrides;
}

const EVENTS = [
  "event_onimconnectormessageadd_text",
  "event_onimconnectormessageupdate",
  "event_onimconnectordialogstart",
  "event_onappinstall",
  "event_onappuninstall",
];

describe("eventBody", () => {
  for (const name of EVENTS) {
    it(`reproduces ${name}_raw.txt byte for byte and round-trips to ${name}.json`, () => {
      const documented = fixtureJson<EventFixture>(`bitrix/${name}.json`);
      const raw = fixtureText(`bitrix/${name}_raw.txt`).trim();
      const memberId = portalFor(documented.auth);

      const options: Parameters<BitrixFake["eventBody"]>[3] = {
        ts: documented.ts,
        auth: documentedAuthValues(documented.auth),
      };
      const handlerId = documented.event_handler_id ?? documented.eventId;
      if (handlerId !== undefined) options.eventHandlerId = handlerId;
      const body = fake.eventBody(memberId, documented.event, documented.data, options);

      expect(body).toBe(raw);
      expect(qs.parse(body, { depth: 20 })).toEqual(asWire(documented));
    });
  }

  it("reproduces the verbatim body captured by the official PHP SDK (default key layout)", () => {
    const raw = fixtureText("bitrix/event_wire_sample_oncrmcontactadd_raw.txt").trim();
    const parsed = qs.parse(raw, { depth: 20 }) as unknown as EventFixture & { data: unknown };
    const memberId = portalFor(parsed.auth);
    const body = fake.eventBody(memberId, "ONCRMCONTACTADD", parsed.data, {
      ts: parsed.ts,
      eventHandlerId: Number(parsed.event_handler_id),
      auth: documentedAuthValues(parsed.auth),
    });
    expect(body).toBe(raw);
  });

  it("by default carries the fake's endpoints and the portal's current token", () => {
    const tokens = fake.addPortal();
    const portal = fake.portal(tokens.memberId);
    const body = qs.parse(fake.eventBody(tokens.memberId, "OnImConnectorLineDelete", 107), { depth: 20 });
    expect(body).toMatchObject({
      event: "ONIMCONNECTORLINEDELETE",
      data: "107",
      auth: {
        access_token: tokens.accessToken,
        client_endpoint: fake.clientEndpoint,
        server_endpoint: fake.serverEndpoint,
        member_id: tokens.memberId,
        application_token: portal.applicationToken,
        domain: fake.host,
      },
    });
    const robot = qs.parse(
      fake.eventBody(tokens.memberId, "ONIMCONNECTORMESSAGEADD", {}, { withoutTokens: true }),
    );
    expect(robot.auth).not.toHaveProperty("access_token");
    expect(robot.auth).toHaveProperty("application_token", portal.applicationToken);
  });

  it("builds ONAPPINSTALL with the refresh token and ONAPPUNINSTALL without tokens", () => {
    const tokens = fake.addPortal({ appVersion: 3 });
    const install = qs.parse(fake.installEventBody(tokens.memberId), { depth: 20 });
    expect(install).toMatchObject({
      event: "ONAPPINSTALL",
      data: { VERSION: "3", ACTIVE: "Y", INSTALLED: "Y" },
      auth: { access_token: tokens.accessToken, refresh_token: tokens.refreshToken, expires_in: "3600" },
    });
    const uninstall = qs.parse(fake.uninstallEventBody(tokens.memberId), { depth: 20 });
    expect(uninstall).toMatchObject({ event: "ONAPPUNINSTALL", data: { CLEAN: "1" } });
    expect(Object.keys(uninstall.auth as object)).toEqual([
      "domain",
      "server_endpoint",
      "client_endpoint",
      "member_id",
      "application_token",
    ]);
  });
});

describe("install page", () => {
  it("reproduces install_page_request_raw.txt (query string and body)", () => {
    const decoded = fixtureJson<{
      _query_string: Record<string, string>;
      _post_body: Record<string, string>;
    }>("bitrix/install_page_request_DECODED.json");
    const [requestLine = "", , , body = ""] = fixtureText("bitrix/install_page_request_raw.txt").split("\n");
    const post = decoded._post_body;
    const tokens = fake.addPortal({
      memberId: "d0000000000000000000000000000001",
      accessToken: post.AUTH_ID,
      refreshToken: post.REFRESH_ID,
      applicationToken: post.APPLICATION_TOKEN,
      scope: post.APPLICATION_SCOPE,
      status: post.status,
      domain: decoded._query_string.DOMAIN,
    });

    const fakeBody = fake.installPageBody(
      tokens.memberId,
      { SERVER_ENDPOINT: String(post.SERVER_ENDPOINT), member_id: String(post.member_id) },
      { withEndpointAndToken: true },
    );
    expect(fakeBody).toBe(body.trim());

    const query = fake.installPageQuery(tokens.memberId, {
      PROTOCOL: "1",
      APP_SID: String(decoded._query_string.APP_SID),
    });
    expect(`POST /install?${query}`).toBe(requestLine.trim());
  });

  it("reproduces the recorded install POST of b24phpsdk's test byte for byte: no application token", () => {
    const [query = "", body = ""] = fixtureText("bitrix/install_page_post_recorded_raw.txt").split("\n");
    const post = Object.fromEntries(new URLSearchParams(body));
    const get = Object.fromEntries(new URLSearchParams(query));
    const tokens = fake.addPortal({
      memberId: "e0000000000000000000000000000001",
      accessToken: post.AUTH_ID,
      refreshToken: post.REFRESH_ID,
      status: post.status,
      domain: get.DOMAIN,
    });
    const overrides = {
      member_id: String(post.member_id),
      PLACEMENT_OPTIONS: String(post.PLACEMENT_OPTIONS),
    };
    expect(fake.installPageBody(tokens.memberId, overrides)).toBe(body);
    expect(fake.installPageQuery(tokens.memberId, { PROTOCOL: "1", APP_SID: String(get.APP_SID) })).toBe(
      query,
    );
  });

  it("builds ONAPPUSERREADY with the documented data and auth keys, in order", () => {
    const documented = fixtureJson<EventFixture & { data: Record<string, unknown> }>(
      "bitrix/event_onappuserready.json",
    );
    const tokens = fake.addPortal();
    const parsed = qs.parse(fake.systemUserReadyEventBody(tokens.memberId), {
      depth: 20,
    }) as unknown as EventFixture & { data: Record<string, unknown> };
    expect(Object.keys(parsed)).toEqual(Object.keys(documented));
    expect(Object.keys(parsed.data)).toEqual(Object.keys(documented.data));
    expect(Object.keys(parsed.auth)).toEqual(Object.keys(documented.auth));
    expect(parsed.data.access_token).not.toBe(parsed.auth.access_token);
    expect(fake.tokenUser(String(parsed.data.access_token))).toBe(Number(parsed.data.user_id));
  });

  it("points DOMAIN/PROTOCOL at the fake by default", () => {
    const tokens = fake.addPortal();
    const query = new URLSearchParams(fake.installPageQuery(tokens.memberId));
    expect(`http://${query.get("DOMAIN")}/rest/`).toBe(fake.clientEndpoint);
    expect(query.get("PROTOCOL")).toBe("0");
    const body = new URLSearchParams(fake.installPageBody(tokens.memberId));
    expect(body.get("AUTH_ID")).toBe(tokens.accessToken);
    expect(body.get("REFRESH_ID")).toBe(tokens.refreshToken);
    expect(body.get("member_id")).toBe(tokens.memberId);
  });
});

describe("messageservice handler body", () => {
  it("reproduces messageservice_handler_crm_raw_DERIVED.txt", () => {
    const raw = fixtureText("bitrix/messageservice_handler_crm_raw_DERIVED.txt").trim();
    const documented = fixtureJson<
      Record<string, unknown> & { bindings: Array<{ OWNER_TYPE_ID: number; OWNER_ID: number }> }
    >("bitrix/messageservice_handler_crm.json");
    const parsed = qs.parse(raw, { depth: 20 }) as unknown as EventFixture;
    const memberId = portalFor(parsed.auth);
    const body = fake.messageserviceHandlerBody(
      memberId,
      {
        code: String(documented.code),
        messageTo: String(documented.message_to),
        messageBody: String(documented.message_body),
        messageId: String(documented.message_id),
        bindings: documented.bindings,
      },
      { ts: Number(documented.ts), auth: documentedAuthValues(parsed.auth) },
    );
    expect(body).toBe(raw);
    expect(fake.portal(memberId).smsMessages.get(String(documented.message_id))).toBe(documented.code);
  });
});
