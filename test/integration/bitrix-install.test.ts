/**
 * Installs as real portals deliver them: the install page without an application token (b24phpsdk's
 * recording), ONAPPINSTALL before or after it, ONAPPUSERREADY with the system user's tokens, portals of
 * both OAuth regions, and a server_endpoint that is not trusted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BitrixRestClient } from "#shared/adapters/bitrix-rest/client.ts";
import { BitrixOAuthClient } from "#shared/adapters/bitrix-rest/oauth.ts";
import { TokenRefresher } from "#shared/adapters/bitrix-rest/token-refresher.ts";
import type { PortalRecord } from "#shared/ports/bitrix-store.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { getRuntime } from "#shared/runtime.ts";
import { type BitrixFake, type BitrixPortalInput, startBitrixFake } from "../fakes/bitrix24.ts";
import { fixtureText } from "../fixtures.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

const CLIENT_ID = "local.7a1b2c3d4e5f60.87654321";
const CLIENT_SECRET = "bitrix-client-secret-002";
const app: BitrixPortalInput = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, installed: true };

let stack: TestStack;
let bitrix: BitrixFake;

const post = (body: string, query = "") =>
  fetch(`${stack.url}/api/bitrix/${query}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });

const page = (memberId: string, options?: { withEndpointAndToken?: boolean }) =>
  post(bitrix.installPageBody(memberId, {}, options), `?${bitrix.installPageQuery(memberId)}`);

const stored = async (memberId: string) => (await getRuntime()).bitrixStore.getPortal(memberId);

/** An event Bitrix24 sends to the handler we bound: accepted only with the portal's application token. */
async function lineDeleted(memberId: string): Promise<number> {
  const binding = bitrix.portal(memberId).events.find((e) => e.event === "ONIMCONNECTORLINEDELETE");
  if (!binding) throw new Error("ONIMCONNECTORLINEDELETE is not bound");
  const query = binding.handler.slice(binding.handler.indexOf("?"));
  return (await post(bitrix.eventBody(memberId, "ONIMCONNECTORLINEDELETE", 99999), query)).status;
}

/** What an install must end in, whichever order its requests came in. */
function outcome(portal: PortalRecord | undefined) {
  return {
    status: portal?.status,
    applicationToken: portal?.applicationToken,
    clientEndpoint: portal?.clientEndpoint,
    serverEndpoint: portal?.serverEndpoint,
    licenseFamily: portal?.licenseFamily,
    setupError: portal?.setupError,
    hasTokens: Boolean(portal?.tokens?.accessToken),
  };
}

beforeAll(async () => {
  bitrix = await startBitrixFake();
  stack = await startTestStack({ BITRIX_OAUTH_URLS: bitrix.oauthUrls });
  await stack.admin("POST", "/api/admin/bitrix-apps", { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
});

afterAll(async () => {
  await stack?.stop();
  await bitrix?.close();
});

describe("install page without an application token", () => {
  it("replays b24phpsdk's recorded install POST and event of one portal: installFinish(), events only after ONAPPINSTALL", async () => {
    const [query = "", body = ""] = fixtureText("bitrix/install_page_post_recorded_raw.txt").split("\n");
    const recorded = Object.fromEntries(new URLSearchParams(body));
    const domain = new URLSearchParams(query).get("DOMAIN") ?? "";
    // The same SDK's recorded event body comes from the same playground portal, with its application token.
    const event = fixtureText("bitrix/event_wire_sample_oncrmcontactadd_raw.txt").trim();
    const applicationToken = new URLSearchParams(event).get("auth[application_token]") ?? "";
    const { memberId } = bitrix.addPortal({
      ...app,
      memberId: recorded.member_id,
      accessToken: recorded.AUTH_ID,
      refreshToken: recorded.REFRESH_ID,
      applicationToken,
      domain,
    });
    const res = await post(body, `?${query}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("BX24.installFinish()");
    expect(outcome(await stored(memberId))).toMatchObject({ status: "installed", applicationToken: "" });
    expect(bitrix.oauthServers.west.requestsTo("/rest/app.info")).toHaveLength(1);

    expect((await post(event)).status).toBe(401);
    expect((await post(bitrix.installEventBody(memberId))).status).toBe(200);
    const replayed = await post(event);
    expect(replayed.status).toBe(200);
    expect(await replayed.json()).toEqual({ result: "ignored" });
  });

  it("page, then ONAPPINSTALL: events are refused until the event brings the token; repeats change nothing", async () => {
    const { memberId } = bitrix.addPortal(app);
    const res = await page(memberId);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("BX24.installFinish()");
    expect(await lineDeleted(memberId)).toBe(401);
    const view = async () => (await stack.admin("GET", `/api/admin/portals/${memberId}`)).body;
    expect(await view()).toMatchObject({ status: "installed", awaitingApplicationToken: true });

    expect((await post(bitrix.installEventBody(memberId))).status).toBe(200);
    expect(await lineDeleted(memberId)).toBe(200);
    expect(await view()).not.toHaveProperty("awaitingApplicationToken");
    const installed = await stored(memberId);
    expect(installed?.applicationToken).toBe(bitrix.portal(memberId).applicationToken);

    expect((await page(memberId)).status).toBe(200);
    expect((await post(bitrix.installEventBody(memberId))).status).toBe(200);
    expect(await stored(memberId)).toEqual(installed);
    expect(bitrix.portal(memberId).events).toHaveLength(8);
  });

  it("binds ONAPPINSTALL from the page, so the event that brings the token reaches us at all", async () => {
    // Bitrix24 delivers ONAPPINSTALL only to a handler bound for it (docs on-app-install: "the handler
    // can be set in the app's install script"); b24phpsdk's install example binds it from the page.
    const { memberId } = bitrix.addPortal(app);
    expect((await page(memberId)).status).toBe(200);
    const delivered = await bitrix.deliverEvent(memberId, "ONAPPINSTALL", {
      VERSION: "1",
      ACTIVE: "Y",
      INSTALLED: "Y",
      LANGUAGE_ID: "en",
    });
    expect(delivered.map((d) => d.status)).toEqual([200]);
    expect((await stored(memberId))?.applicationToken).toBe(bitrix.portal(memberId).applicationToken);
    expect(await lineDeleted(memberId)).toBe(200);
  });

  it("ONAPPINSTALL, then the page: the same installed portal", async () => {
    const first = bitrix.addPortal(app).memberId;
    expect((await page(first)).status).toBe(200);
    expect((await post(bitrix.installEventBody(first))).status).toBe(200);

    const second = bitrix.addPortal(app).memberId;
    expect((await post(bitrix.installEventBody(second))).status).toBe(200);
    const afterEvent = await stored(second);
    const res = await page(second);
    expect(await res.text()).toContain("BX24.installFinish()");
    expect(await stored(second)).toEqual(afterEvent);
    expect(await lineDeleted(second)).toBe(200);

    const a = outcome(await stored(first));
    const b = outcome(await stored(second));
    expect({ ...b, applicationToken: Boolean(b.applicationToken) }).toEqual({
      ...a,
      applicationToken: Boolean(a.applicationToken),
    });
    expect(
      bitrix
        .portal(second)
        .events.map((e) => e.event)
        .sort(),
    ).toEqual(
      bitrix
        .portal(first)
        .events.map((e) => e.event)
        .sort(),
    );
  });

  it("the page and ONAPPINSTALL at the same moment, again and again: the portal keeps the event's token", async () => {
    for (let round = 0; round < 12; round++) {
      const { memberId } = bitrix.addPortal(app);
      const [fromPage, fromEvent] = await Promise.all([
        page(memberId),
        post(bitrix.installEventBody(memberId)),
      ]);
      expect([fromPage.status, fromEvent.status]).toEqual([200, 200]);
      const installed = await stored(memberId);
      expect(outcome(installed)).toMatchObject({
        status: "installed",
        applicationToken: bitrix.portal(memberId).applicationToken,
        setupError: null,
      });
      // Both set-ups bound the handlers of the one secret the portal kept.
      const secrets = new Set(
        bitrix.portal(memberId).events.map((e) => new URL(e.handler).searchParams.get("h")),
      );
      expect([...secrets]).toEqual([installed?.handlerSecret]);
      expect(await lineDeleted(memberId)).toBe(200);
    }
  });

  it("an install that read the portal before a token refresh does not write the spent refresh token back", async () => {
    const { memberId } = bitrix.addPortal(app);
    expect((await post(bitrix.installEventBody(memberId))).status).toBe(200);
    const { bitrixStore } = await getRuntime();
    const readByInstall = await stored(memberId);
    const tokens = readByInstall?.tokens;
    if (!readByInstall || !tokens) throw new Error("portal not installed");
    const refreshed = { ...tokens, refreshToken: "refreshed-by-a-worker", version: tokens.version + 1 };
    expect(await bitrixStore.saveRefreshedTokens(memberId, tokens.version, refreshed)).toBe(true);
    expect(await bitrixStore.savePortal({ ...readByInstall, setupError: null }, readByInstall)).toBe(false);
    expect((await stored(memberId))?.tokens?.refreshToken).toBe("refreshed-by-a-worker");
  });

  it("a set-up outcome or a moved REST address for a portal removed meanwhile leaves no record behind", async () => {
    const { bitrixStore } = await getRuntime();
    await bitrixStore.setPortalSetupError("portal-removed-during-set-up", "event.bind failed");
    expect(await stored("portal-removed-during-set-up")).toBeUndefined();
    await bitrixStore.movePortalEndpoint(
      "portal-removed-meanwhile",
      "https://new.bitrix24.com/rest/",
      "new.bitrix24.com",
    );
    expect(await stored("portal-removed-meanwhile")).toBeUndefined();
  });

  it("takes SERVER_ENDPOINT and APPLICATION_TOKEN where the page carries them (the REST docs' form)", async () => {
    const { memberId } = bitrix.addPortal(app);
    expect((await page(memberId, { withEndpointAndToken: true })).status).toBe(200);
    expect((await stored(memberId))?.applicationToken).toBe(bitrix.portal(memberId).applicationToken);
    expect(await lineDeleted(memberId)).toBe(200);
  });

  it("still refuses a token no trusted server knows, with a page that says so", async () => {
    const { memberId } = bitrix.addPortal(app);
    const res = await post(
      bitrix.installPageBody(memberId, { AUTH_ID: "f".repeat(32) }),
      `?${bitrix.installPageQuery(memberId)}`,
    );
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain("BX24.installFinish()");
    expect(await stored(memberId)).toBeUndefined();
  });
});

describe("regions", () => {
  it("installs a west and an east portal in one deployment, each verified and refreshed at its own server", async () => {
    const west = bitrix.addPortal(app).memberId;
    const east = bitrix.addPortal({ ...app, region: "east" }).memberId;
    const eastServer = bitrix.oauthServers.east;
    const eastAppInfo = eastServer.requestsTo("/rest/app.info").length;
    // Without SERVER_ENDPOINT every trusted server is asked in turn; the west one does not know the token.
    expect((await page(east)).status).toBe(200);
    expect(eastServer.requestsTo("/rest/app.info").length).toBe(eastAppInfo + 1);
    expect((await post(bitrix.installEventBody(west))).status).toBe(200);
    expect((await stored(west))?.serverEndpoint).toBe(bitrix.serverEndpointOf("west"));
    expect((await stored(east))?.serverEndpoint).toBe(bitrix.serverEndpointOf("east"));

    const runtime = await getRuntime();
    const servers = [bitrix.oauthUrl, eastServer.url];
    const refresher = new TokenRefresher(
      runtime.bitrixStore,
      new BitrixOAuthClient(5_000),
      systemClock,
      servers,
    );
    const rest = new BitrixRestClient(runtime.bitrixStore, refresher, {
      timeoutMs: 5_000,
      allowLoopbackHttp: true,
    });
    bitrix.expireTokens(east);
    const westRefreshes = bitrix.oauthServers.west.requestsTo("/oauth/token/").length;
    expect(await rest.call(east, "imconnector.list")).toBeTruthy();
    expect(eastServer.requestsTo("/oauth/token/")).toHaveLength(1);
    expect(bitrix.oauthServers.west.requestsTo("/oauth/token/")).toHaveLength(westRefreshes);
  });

  it("refuses a server_endpoint off the allow-list with a clear error, and stores nothing", async () => {
    const { memberId } = bitrix.addPortal(app);
    const evil = "https://oauth.evil.example/rest/";
    const event = await post(bitrix.installEventBody(memberId, { auth: { server_endpoint: evil } }));
    expect(event.status).toBe(400);
    expect(JSON.stringify(await event.json())).toContain("BITRIX_OAUTH_URLS");
    const res = await post(
      bitrix.installPageBody(memberId, { SERVER_ENDPOINT: evil }),
      `?${bitrix.installPageQuery(memberId)}`,
    );
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("BITRIX_OAUTH_URLS");
    expect(await stored(memberId)).toBeUndefined();
  });
});

describe("licence", () => {
  it("reads the licence family from the portal's own app.info once the token is verified", async () => {
    const { memberId } = bitrix.addPortal({ ...app, licenseFamily: "ent" });
    const portalAppInfo = bitrix.requestsTo("/rest/app.info").length;
    expect((await post(bitrix.installEventBody(memberId))).status).toBe(200);
    expect((await stored(memberId))?.licenseFamily).toBe("ent");
    expect(bitrix.requestsTo("/rest/app.info").length).toBe(portalAppInfo + 1);
  });
});

describe("ONAPPUSERREADY", () => {
  it("switches the portal to the system user's tokens, and later installs and updates keep them", async () => {
    const { memberId } = bitrix.addPortal(app);
    expect((await post(bitrix.installEventBody(memberId))).status).toBe(200);
    const res = await post(bitrix.systemUserReadyEventBody(memberId));
    expect(res.status).toBe(200);
    const portal = await stored(memberId);
    expect(portal?.tokens?.systemUser).toBe(true);
    expect(bitrix.tokenUser(portal?.tokens?.accessToken ?? "")).toBe(bitrix.portal(memberId).systemUserId);

    const update = await bitrix.deliverEvent(memberId, "ONAPPUPDATE", {
      VERSION: "2",
      PREVIOUS_VERSION: "1",
    });
    expect(update[0]?.status).toBe(200);
    expect((await stored(memberId))?.tokens?.accessToken).toBe(portal?.tokens?.accessToken);
  });

  it("arriving before ONAPPINSTALL (after the page) brings the application token too", async () => {
    const { memberId } = bitrix.addPortal(app);
    expect((await page(memberId)).status).toBe(200);
    expect((await post(bitrix.systemUserReadyEventBody(memberId))).status).toBe(200);
    expect((await stored(memberId))?.applicationToken).toBe(bitrix.portal(memberId).applicationToken);
    expect(await lineDeleted(memberId)).toBe(200);
    // The docs' example puts the OAuth server's domain in auth.domain; that form is accepted as well.
    const oauthDomain = new URL(bitrix.oauthUrl).host;
    const other = bitrix.addPortal(app).memberId;
    expect(
      (await post(bitrix.systemUserReadyEventBody(other, { auth: { domain: oauthDomain } }))).status,
    ).toBe(200);
    expect((await stored(other))?.tokens?.systemUser).toBe(true);
  });

  it("refuses system-user tokens of another portal, and an event without the portal's application token", async () => {
    const { memberId } = bitrix.addPortal(app);
    const other = bitrix.addPortal(app).memberId;
    expect((await post(bitrix.installEventBody(memberId))).status).toBe(200);
    const before = await stored(memberId);
    const foreignData = new URLSearchParams(bitrix.systemUserReadyEventBody(other));
    const ours = new URLSearchParams(bitrix.systemUserReadyEventBody(memberId));
    ours.set("data[access_token]", foreignData.get("data[access_token]") ?? "");
    expect((await post(ours.toString())).status).toBe(403);
    const forged = bitrix.systemUserReadyEventBody(memberId, {
      auth: { application_token: "0".repeat(32), access_token: "x", refresh_token: "y" },
    });
    expect((await post(forged)).status).toBeGreaterThanOrEqual(400);
    expect(await stored(memberId)).toEqual(before);
  });
});
