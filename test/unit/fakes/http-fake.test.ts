import { afterEach, describe, expect, it } from "vitest";
import type { HttpFake } from "../../fakes/http-fake.ts";
import { seededRandom, startHttpFake } from "../../fakes/http-fake.ts";

describe("HttpFake", () => {
  let fake: HttpFake;

  afterEach(async () => {
    await fake.close();
  });

  it("records method, path, query, headers, raw body and parsed JSON", async () => {
    fake = await startHttpFake(() => ({ status: 201, body: { ok: true } }));
    const response = await fetch(`${fake.url}/v23.0/123/messages?a=1&b=two`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-test": "yes" },
      body: '{"hello":"world"}',
    });

    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ ok: true });
    expect(fake.requests).toHaveLength(1);
    const [req] = fake.requests;
    expect(req).toMatchObject({
      method: "POST",
      path: "/v23.0/123/messages",
      query: { a: "1", b: "two" },
      queryString: "a=1&b=two",
      rawBody: '{"hello":"world"}',
      json: { hello: "world" },
    });
    expect(req?.headers["x-test"]).toBe("yes");
    expect(typeof req?.at).toBe("number");
    expect(fake.requestsTo("/v23.0/")).toHaveLength(1);
    expect(fake.requestsTo(/\/messages$/)).toHaveLength(1);
    expect(fake.requestsTo("/other")).toHaveLength(0);
  });

  it("parses PHP-style form bodies deeper than qs's default depth of 5", async () => {
    fake = await startHttpFake(() => ({ status: 200 }));
    const body = "data%5BMESSAGES%5D%5B0%5D%5Bmessage%5D%5Bfiles%5D%5B0%5D%5Bname%5D=a.pdf&ts=1";
    await fetch(fake.url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
    expect(fake.requests[0]?.form).toEqual({
      data: { MESSAGES: [{ message: { files: [{ name: "a.pdf" }] } }] },
      ts: "1",
    });
  });

  it("answers injected status faults the given number of times, then handles normally", async () => {
    fake = await startHttpFake(() => ({ status: 200, body: "normal" }));
    fake.inject({ match: "/x", times: 2, response: { status: 503, body: { error: "busy" } } });

    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${fake.url}/x`)).status);

    expect(statuses).toEqual([503, 503, 200]);
    expect(fake.requests.map((r) => r.fault)).toEqual(["status", "status", undefined]);
    expect(fake.pendingFaults).toBe(0);
  });

  it("only faults matching requests", async () => {
    fake = await startHttpFake(() => ({ status: 200 }));
    fake.inject({ match: (r) => r.method === "POST", response: { status: 500 } });
    expect((await fetch(`${fake.url}/a`)).status).toBe(200);
    expect((await fetch(`${fake.url}/a`, { method: "POST" })).status).toBe(500);
  });

  it("never answers a timeout fault, and close() still returns", async () => {
    fake = await startHttpFake(() => ({ status: 200 }));
    fake.inject({ match: "/", response: { timeout: true } });

    await expect(fetch(`${fake.url}/slow`, { signal: AbortSignal.timeout(150) })).rejects.toThrow();
    expect(fake.requests[0]?.fault).toBe("timeout");
  });

  it("resets the connection on a reset fault", async () => {
    fake = await startHttpFake(() => ({ status: 200 }));
    fake.inject({ match: "/", response: { resetConnection: true } });

    const error = await fetch(`${fake.url}/x`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(String((error as TypeError & { cause?: unknown }).cause)).toMatch(/ECONNRESET|socket|closed/i);
    expect((await fetch(`${fake.url}/x`)).status).toBe(200);
  });

  it("waits for a request that arrives later", async () => {
    fake = await startHttpFake(() => ({ status: 204 }));
    const waiting = fake.waitForRequest("/later", 1000);
    setTimeout(() => void fetch(`${fake.url}/later`), 20);
    expect((await waiting).path).toBe("/later");
    await expect(fake.waitForRequest("/never", 50)).rejects.toThrow(/no request matching/);
  });

  it("reset() forgets requests and pending faults", async () => {
    fake = await startHttpFake(() => ({ status: 200 }));
    fake.inject({ match: "/", times: 5, response: { status: 500 } });
    await fetch(fake.url);
    fake.reset();
    expect(fake.requests).toHaveLength(0);
    expect((await fetch(fake.url)).status).toBe(200);
  });
});

describe("seededRandom", () => {
  it("replays the same sequence for the same seed, within [0, 1)", () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const first = Array.from({ length: 100 }, () => a());
    expect(Array.from({ length: 100 }, () => b())).toEqual(first);
    expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(first).size).toBe(100);
    expect(seededRandom(43)()).not.toBe(first[0]);
  });
});
