import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BodyTooLargeError, safeFetch, UnsafeUrlError } from "#shared/adapters/safe-fetch.ts";

/** Loopback HTTP servers the fetches really reach; each records what it was asked. */
let server: Server;
let port: number;
const seen: { path: string; authorization?: string }[] = [];
let bodyBytesWritten = 0;

function handle(req: IncomingMessage, res: ServerResponse) {
  const path = req.url ?? "/";
  seen.push({ path, authorization: req.headers.authorization });
  const redirect = /^\/redirect\/(\d+)\?to=(.*)$/.exec(path);
  if (redirect) {
    res.writeHead(Number(redirect[1]), { location: decodeURIComponent(redirect[2] ?? "") }).end();
    return;
  }
  if (path === "/hop/0") return void res.end("arrived");
  const hop = /^\/hop\/(\d+)$/.exec(path);
  if (hop) return void res.writeHead(302, { location: `/hop/${Number(hop[1]) - 1}` }).end();
  if (path === "/stream") {
    // 8 MB in 64 KB chunks, no Content-Length: only the cap can stop it.
    res.writeHead(200, { "content-type": "application/octet-stream" });
    const chunk = Buffer.alloc(64 * 1024, 1);
    let left = 128;
    const pump = () => {
      while (left > 0) {
        left--;
        bodyBytesWritten += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end();
    };
    res.on("close", () => (left = 0));
    pump();
    return;
  }
  res.end(`hello from ${path}`);
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const local = { allowLoopback: true };
const lambda = { allowLoopback: false };
/** A resolver that answers from a table, counting the questions. */
function resolver(table: Record<string, string[]>) {
  const asked: string[] = [];
  const resolve = async (host: string) => {
    asked.push(host);
    const answers = table[host];
    if (!answers) throw new Error("ENOTFOUND");
    return answers.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return { asked, resolve };
}

async function refusal(url: string, policy: Parameters<typeof safeFetch>[2]): Promise<string> {
  const error = await safeFetch(url, {}, policy).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnsafeUrlError);
  return (error as Error).message;
}

describe("safeFetch refuses what leads inside (as in a Lambda)", () => {
  it.each([
    "https://127.0.0.1/",
    "https://2130706433/",
    "https://0x7f.1/",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/",
    "https://100.64.0.1/",
    "https://[fe80::1]/",
    "https://224.0.0.1/",
    "https://0.0.0.0/",
    "http://example.com/",
    "https://user:pw@example.com/",
    "file:///etc/passwd",
  ])("%s", async (url) => {
    await refusal(url, lambda);
  });

  it("refuses loopback even though the server is there", async () => {
    const before = seen.length;
    await refusal(`http://127.0.0.1:${port}/`, lambda);
    expect(seen.length).toBe(before);
  });

  it("resolves the name first: a name pointing inside, or partly inside, is refused", async () => {
    const dns = resolver({ "internal.test": ["10.0.0.5"], "mixed.test": ["93.184.216.34", "127.0.0.1"] });
    expect(await refusal("https://internal.test/", { ...lambda, resolve: dns.resolve })).toMatch(
      /not public/,
    );
    expect(await refusal("https://mixed.test/", { ...lambda, resolve: dns.resolve })).toMatch(/not public/);
    expect(await refusal("https://nowhere.test/", { ...lambda, resolve: dns.resolve })).toMatch(/resolve/);
  });
});

describe("safeFetch in the local stack (loopback allowed)", () => {
  it("fetches loopback, plain HTTP included", async () => {
    const res = await safeFetch(`http://127.0.0.1:${port}/plain`, {}, local);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("hello from /plain");
  });

  it("still refuses private, link-local and numeric forms", async () => {
    await refusal("http://10.0.0.1/", local);
    await refusal("http://169.254.169.254/", local);
    await refusal(`http://2130706433:${port}/`, local);
  });

  it("connects to the address it checked: a second, rebound DNS answer is never asked for", async () => {
    let answers = 0;
    const rebinding = async () => {
      answers++;
      return [{ address: answers === 1 ? "127.0.0.1" : "169.254.169.254", family: 4 }];
    };
    const res = await safeFetch(`http://rebind.test:${port}/pinned`, {}, { ...local, resolve: rebinding });
    expect(await res.text()).toBe("hello from /pinned");
    expect(answers).toBe(1);
  });

  it("checks every redirect hop again", async () => {
    const to = (target: string) => `http://127.0.0.1:${port}/redirect/302?to=${encodeURIComponent(target)}`;
    expect(await refusal(to("http://169.254.169.254/latest/meta-data/"), local)).toMatch(/not public/);
    expect(await refusal(to(`http://[::ffff:127.0.0.1]:${port}/`), local)).toMatch(/not public/);
    expect(await refusal(to("http://2130706433/"), local)).toMatch(/numeric/);
    expect(await refusal(to("//0x7f.1/"), local)).toMatch(/numeric/);
    const dns = resolver({ "inside.test": ["192.168.0.10"] });
    expect(await refusal(to("https://inside.test/"), { ...local, resolve: dns.resolve })).toMatch(
      /not public/,
    );
  });

  it("follows at most three redirects", async () => {
    const res = await safeFetch(`http://127.0.0.1:${port}/hop/3`, {}, local);
    expect(await res.text()).toBe("arrived");
    expect(await refusal(`http://127.0.0.1:${port}/hop/4`, local)).toMatch(/more than 3 redirects/);
  });

  it("drops the Authorization header on a redirect to another origin", async () => {
    const dns = resolver({ "other.test": ["127.0.0.1"] });
    const url = `http://127.0.0.1:${port}/redirect/302?to=${encodeURIComponent(`http://other.test:${port}/landed`)}`;
    const res = await safeFetch(
      url,
      { headers: { authorization: "Bearer t" } },
      { ...local, resolve: dns.resolve },
    );
    expect(await res.text()).toBe("hello from /landed");
    const [first, landed] = seen.slice(-2);
    expect(first?.authorization).toBe("Bearer t");
    expect(landed?.path).toBe("/landed");
    expect(landed?.authorization).toBeUndefined();
  });

  it("returns a redirect as it is when asked not to follow (a POST never follows)", async () => {
    const url = `http://127.0.0.1:${port}/redirect/307?to=${encodeURIComponent("https://example.com/")}`;
    const res = await safeFetch(url, { method: "POST", body: "{}" }, local);
    res.discard();
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe("https://example.com/");
  });

  it("aborts a body without Content-Length at its byte cap", async () => {
    bodyBytesWritten = 0;
    const res = await safeFetch(`http://127.0.0.1:${port}/stream`, {}, local);
    let read = 0;
    const error = await (async () => {
      for await (const chunk of res.bodyUpTo(1024 * 1024)) read += (chunk as Buffer).length;
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BodyTooLargeError);
    expect(read).toBeLessThanOrEqual(1024 * 1024);
    await new Promise((r) => setTimeout(r, 50));
    expect(bodyBytesWritten).toBeLessThan(8 * 1024 * 1024);
  });
});
