import { describe, expect, it } from "vitest";
import { bitrixOAuthServers, DEFAULT_BITRIX_OAUTH_URLS, loadConfig } from "#shared/config.ts";
import { trustedOAuthServer } from "#shared/domain/oauth-server.ts";

const BASE_ENV = { TABLE_NAME: "t", INBOUND_QUEUE_URL: "http://127.0.0.1:1/q" };

describe("bitrixOAuthServers", () => {
  it("defaults to both regions: west oauth.bitrix.info, east oauth.bitrix24.tech (b24phpsdk DefaultOAuthServerUrl)", () => {
    expect(bitrixOAuthServers(loadConfig(BASE_ENV))).toEqual([
      "https://oauth.bitrix.info",
      "https://oauth.bitrix24.tech",
    ]);
    expect(DEFAULT_BITRIX_OAUTH_URLS).toHaveLength(2);
  });

  it("takes BITRIX_OAUTH_URLS as a comma-separated list, and BITRIX_OAUTH_URL as a one-entry list", () => {
    const listed = loadConfig({ ...BASE_ENV, BITRIX_OAUTH_URLS: " https://a.example/ ,https://b.example" });
    expect(bitrixOAuthServers(listed)).toEqual(["https://a.example", "https://b.example"]);
    const one = loadConfig({ ...BASE_ENV, BITRIX_OAUTH_URL: "http://127.0.0.1:4004" });
    expect(bitrixOAuthServers(one)).toEqual(["http://127.0.0.1:4004"]);
  });

  it("stops at cold start on a list entry that is not a URL, naming the setting", () => {
    expect(() =>
      loadConfig({ ...BASE_ENV, BITRIX_OAUTH_URLS: "https://a.example,oauth.bitrix.info" }),
    ).toThrow(/BITRIX_OAUTH_URLS/);
  });
});

describe("trustedOAuthServer", () => {
  const trusted = ["https://oauth.bitrix.info", "https://oauth.bitrix24.tech"];

  it("maps a server_endpoint to the trusted server it names", () => {
    expect(trustedOAuthServer("https://oauth.bitrix.info/rest/", trusted)).toBe("https://oauth.bitrix.info");
    expect(trustedOAuthServer("https://oauth.bitrix24.tech/rest/", trusted)).toBe(
      "https://oauth.bitrix24.tech",
    );
    expect(trustedOAuthServer("https://OAUTH.bitrix.info/rest", trusted)).toBe("https://oauth.bitrix.info");
  });

  it.each([
    "https://oauth.evil.example/rest/",
    "https://oauth.bitrix.info.evil.example/rest/",
    "http://oauth.bitrix.info/rest/",
    "https://user:pw@oauth.bitrix.info/rest/",
    "https://oauth.bitrix.info/rest/?x=1",
    "https://oauth.bitrix.info/other/rest/",
    "not a url",
  ])("refuses %s", (endpoint) => {
    expect(trustedOAuthServer(endpoint, trusted)).toBeUndefined();
  });
});
