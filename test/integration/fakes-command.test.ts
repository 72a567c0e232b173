import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../local/emulators.ts";

/**
 * `npm run fakes` as a second person on the machine runs it: its own ports, a stack on a non-default
 * PORT, and a restart that keeps the portal (member id, tokens, lines) a saved set-up refers to.
 */
const script = fileURLToPath(new URL("../../local/fakes.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "waba-fakes-"));
let stack: Server;
let stackPort: number;
const webhooks: string[] = [];
let ports: { meta: number; bitrix: number; control: number; oauthWest: number; oauthEast: number };

beforeAll(async () => {
  stackPort = await freePort();
  ports = {
    meta: await freePort(),
    bitrix: await freePort(),
    control: await freePort(),
    oauthWest: await freePort(),
    oauthEast: await freePort(),
  };
  // Stands in for npm start's gateway: records what the customer's webhook reached.
  stack = createServer((req, res) => {
    webhooks.push(`${req.method} ${req.url}`);
    res.writeHead(200).end("EVENT_RECEIVED");
  });
  await new Promise<void>((resolve) => stack.listen(stackPort, "127.0.0.1", resolve));
});

afterAll(async () => {
  await new Promise<void>((resolve) => stack.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function startFakes(): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [script], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      PORT: String(stackPort),
      FAKE_META_PORT: String(ports.meta),
      FAKE_BITRIX_PORT: String(ports.bitrix),
      FAKE_CONTROL_PORT: String(ports.control),
      FAKE_OAUTH_WEST_PORT: String(ports.oauthWest),
      FAKE_OAUTH_EAST_PORT: String(ports.oauthEast),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 30_000;
  while (!out.includes("Ctrl-C stops the fakes.")) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`npm run fakes did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => out };
}

async function stopFakes(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

const kept = () =>
  JSON.parse(readFileSync(join(dir, ".local", "fakes.json"), "utf8")) as {
    bitrix: { portals: Array<{ memberId: string; accessToken: string; refreshToken: string }> };
  };

describe("npm run fakes", () => {
  it("sends the customer's webhook to the stack's PORT and prints commands for it", async () => {
    const { child, output } = await startFakes();
    try {
      const res = await fetch(`http://127.0.0.1:${ports.control}/customer-writes`, {
        method: "POST",
        body: '{"text":"hi"}',
      });
      expect(await res.json()).toEqual({ webhook: 200 });
      expect(webhooks).toEqual(["POST /api/waba/?app_id=1234"]);
      expect(output()).toContain(`PUBLIC_BASE_URL=http://127.0.0.1:${stackPort} PORT=${stackPort} npm start`);
    } finally {
      await stopFakes(child);
    }
  });

  it("keeps its portal, tokens and ids in .local/ across a restart", async () => {
    const before = kept().bitrix.portals[0];
    expect(before?.memberId).toMatch(/^[0-9a-f]{32}$/);
    const { child, output } = await startFakes();
    try {
      expect(kept().bitrix.portals).toHaveLength(1);
      expect(kept().bitrix.portals[0]).toMatchObject({
        memberId: before?.memberId,
        accessToken: before?.accessToken,
        refreshToken: before?.refreshToken,
      });
      expect(output()).toContain(`"memberId":"${before?.memberId}"`);
      // The access token the bridge stored before the restart still opens the portal's REST API.
      const res = await fetch(
        `http://127.0.0.1:${ports.bitrix}/rest/app.info.json?auth=${before?.accessToken}`,
      );
      expect(res.status).toBe(200);
    } finally {
      await stopFakes(child);
    }
  });
});
