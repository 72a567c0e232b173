import { afterEach, describe, expect, it } from "vitest";
import { GraphClient, MAX_TEMPLATE_PAGES, nextPageUrl } from "#shared/adapters/meta-graph/client.ts";
import { GraphApiError } from "#shared/errors.ts";
import { type HttpFake, startHttpFake } from "../fakes/http-fake.ts";
import { type MetaGraphFake, startMetaGraphFake } from "../fakes/meta-graph.ts";

const BASE = "https://graph.facebook.com";
const TARGET = { accessToken: "EAAG-paging-token", graphApiVersion: "v25.0" };

describe("nextPageUrl", () => {
  it("ends the listing when there is no next page", () => {
    expect(nextPageUrl(undefined, BASE)).toBeUndefined();
    expect(nextPageUrl(null, BASE)).toBeUndefined();
    expect(nextPageUrl("", BASE)).toBeUndefined();
  });

  it("follows a next page on the configured origin", () => {
    const next = `${BASE}/v25.0/102290129340398/message_templates?limit=100&after=MjQZD`;
    expect(nextPageUrl(next, BASE)).toBe(next);
    expect(nextPageUrl(next, `${BASE}/`)).toBe(next);
    expect(nextPageUrl("https://GRAPH.facebook.com:443/v25.0/1/message_templates", BASE)).toBe(
      `${BASE}/v25.0/1/message_templates`,
    );
    expect(nextPageUrl("http://127.0.0.1:4001/v25.0/1/x?after=a", "http://127.0.0.1:4001")).toBe(
      "http://127.0.0.1:4001/v25.0/1/x?after=a",
    );
  });

  it.each([
    ["another host", "https://evil.example/v25.0/1/message_templates?after=x"],
    ["a look-alike host", "https://graph.facebook.com.evil.example/v25.0/1/message_templates"],
    ["user info hiding the host", "https://graph.facebook.com@evil.example/v25.0/1/message_templates"],
    ["another port", "https://graph.facebook.com:8443/v25.0/1/message_templates"],
    ["plain http", "http://graph.facebook.com/v25.0/1/message_templates"],
    ["a relative URL", "/v25.0/1/message_templates?after=x"],
    ["a protocol-relative URL", "//evil.example/v25.0/1/message_templates"],
    ["another scheme", "javascript:alert(1)"],
    ["not a string", { href: `${BASE}/v25.0/1/message_templates` }],
  ])("refuses %s", (_, next) => {
    expect(() => nextPageUrl(next, BASE)).toThrow(GraphApiError);
  });

  it("names the refused origin but not the URL, which may carry a token", () => {
    try {
      nextPageUrl("https://evil.example/page?access_token=EAAG-secret", BASE);
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain("https://evil.example");
      expect((error as Error).message).not.toContain("EAAG-secret");
      expect((error as GraphApiError).transient).toBe(false);
    }
  });
});

describe("GraphClient.listTemplates", () => {
  const fakes: HttpFake[] = [];
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.close()));
  });

  it("reads every page of the fake Graph API, 100 at a time, with the WABA's token", async () => {
    const meta: MetaGraphFake = await startMetaGraphFake();
    fakes.push(meta);
    meta.addToken(TARGET.accessToken);
    const templates = Array.from({ length: 250 }, (_, i) => ({
      name: `t_${i}`,
      language: "en",
      status: "APPROVED",
    }));
    meta.setTemplates("42", [...templates, { name: "no language or status" }]);
    const client = new GraphClient({ baseUrl: meta.url, timeoutMs: 5000 });
    const got = await client.listTemplates("42", TARGET);
    expect(got.map((t) => t.name)).toEqual(templates.map((t) => t.name));
    expect(meta.requests).toHaveLength(3);
    expect(meta.requests.every((r) => r.headers.authorization === `Bearer ${TARGET.accessToken}`)).toBe(true);
  });

  it("never sends the token to the host a foreign paging.next names", async () => {
    const foreign = await startHttpFake(() => ({ status: 200, body: { data: [] } }));
    fakes.push(foreign);
    const graph = await startHttpFake(() => ({
      status: 200,
      body: {
        data: [{ name: "a", language: "en", status: "APPROVED" }],
        paging: { next: `${foreign.url}/v25.0/42/message_templates?after=x` },
      },
    }));
    fakes.push(graph);
    const client = new GraphClient({ baseUrl: graph.url, timeoutMs: 5000 });
    await expect(client.listTemplates("42", TARGET)).rejects.toThrow(/refusing to follow paging.next/);
    expect(graph.requests).toHaveLength(1);
    expect(foreign.requests).toHaveLength(0);
  });

  it(`gives up after ${MAX_TEMPLATE_PAGES} pages when paging.next never ends`, async () => {
    let graph: HttpFake | undefined;
    graph = await startHttpFake(() => ({
      status: 200,
      body: {
        data: [{ name: "again", language: "en", status: "APPROVED" }],
        paging: { next: `${graph?.url}/v25.0/42/message_templates?after=same` },
      },
    }));
    fakes.push(graph);
    const client = new GraphClient({ baseUrl: graph.url, timeoutMs: 5000 });
    await expect(client.listTemplates("42", TARGET)).rejects.toThrow(/did not end within 50 pages/);
    expect(graph.requests).toHaveLength(MAX_TEMPLATE_PAGES);
  });

  it("fails on an answer that is not a template list", async () => {
    const graph = await startHttpFake(() => ({ status: 200, body: { success: true } }));
    fakes.push(graph);
    const client = new GraphClient({ baseUrl: graph.url, timeoutMs: 5000 });
    await expect(client.listTemplates("42", TARGET)).rejects.toThrow(GraphApiError);
  });
});
