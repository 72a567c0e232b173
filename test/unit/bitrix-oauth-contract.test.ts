/**
 * Our OAuth adapter against answers recorded or typed by other Bitrix24 clients, served verbatim: the
 * OAuth server's app.info as b24pysdk types it, and the documented refresh answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BitrixOAuthClient } from "#shared/adapters/bitrix-rest/oauth.ts";
import { type HttpFake, startHttpFake } from "../fakes/http-fake.ts";
import { fixtureJson } from "../fixtures.ts";

const APP_INFO = fixtureJson<{ result: Record<string, unknown> }>("bitrix/oauth_app_info_response.json");
const REFRESH = fixtureJson<Record<string, unknown>>("bitrix/oauth_refresh_response.json");

let server: HttpFake;
const oauth = new BitrixOAuthClient(5_000);

beforeAll(async () => {
  server = await startHttpFake((req) => {
    if (req.path === "/rest/app.info") return { status: 200, body: APP_INFO };
    if (req.path === "/oauth/token/") return { status: 200, body: REFRESH };
    return { status: 404, body: "no" };
  });
});

afterAll(async () => {
  await server.close();
});

describe("BitrixOAuthClient on recorded answers", () => {
  it("reads the portal from app.info's install block (b24pysdk B24AppInfoInstallData)", async () => {
    const info = await oauth.appInfo(server.url, "token");
    const install = APP_INFO.result.install as Record<string, unknown>;
    expect(info).toEqual({
      clientId: APP_INFO.result.client_id,
      memberId: install.member_id,
      domain: install.domain,
      clientEndpoint: install.client_endpoint,
      installed: true,
      userId: 1,
      expiresAt: Number(APP_INFO.result.expires),
    });
    expect(server.requests.at(-1)?.query.auth).toBe("token");
  });

  it("names no portal for an answer with member_id at the top level only (the shape our old fake had)", async () => {
    const flat = await startHttpFake(() => ({
      status: 200,
      body: { result: { client_id: "local.x.y", member_id: "m", LICENSE_FAMILY: "ent" } },
    }));
    try {
      expect((await oauth.appInfo(flat.url, "t")).memberId).toBeUndefined();
    } finally {
      await flat.close();
    }
  });

  it("reads the documented refresh answer, at the server it is given", async () => {
    const fresh = await oauth.refresh(`${server.url}/`, "client", "secret", "refresh");
    expect(fresh).toMatchObject({
      accessToken: REFRESH.access_token,
      refreshToken: REFRESH.refresh_token,
      memberId: REFRESH.member_id,
      clientEndpoint: REFRESH.client_endpoint,
    });
    expect(server.requests.at(-1)?.path).toBe("/oauth/token/");
  });
});
