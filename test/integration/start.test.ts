import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../local/emulators.ts";

/**
 * `npm start` as a newcomer meets it, each run in its own directory (so its `.local/` is its own): a bad
 * start says why in one line and leaves no DynamoDB Local behind; SIGTERM to npm stops everything.
 */
const repo = fileURLToPath(new URL("../../", import.meta.url));
const startScript = join(repo, "local", "start.ts");
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "waba-start-"));
  dirs.push(dir);
  return dir;
}

interface Run {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

function run(command: string, args: string[], cwd: string, env: Record<string, string | undefined>): Run {
  const child = spawn(command, args, {
    cwd,
    env: { ...cleanEnv(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** The environment without the test run's own configuration (vitest sets LOG_LEVEL, the stack TABLE_NAME …). */
function cleanEnv(): Record<string, string | undefined> {
  return {
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`,
    HOME: process.env.HOME,
  };
}

/** Processes whose command line names `dir` (a DynamoDB Local started on its data directory). */
function processesUsing(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(dir)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("npm start refuses bad configuration before it starts anything", () => {
  it.each([
    ["ADMIN_TOKEN", { ADMIN_TOKEN: "short" }, "ADMIN_TOKEN must be at least 16 characters long"],
    [
      "GRAPH_API_BASE_URL",
      { GRAPH_API_BASE_URL: "graph.facebook.com" },
      "GRAPH_API_BASE_URL must be a valid URL",
    ],
    ["HTTP_TIMEOUT_MS", { HTTP_TIMEOUT_MS: "-5" }, "HTTP_TIMEOUT_MS must be greater than 0"],
    [
      "HELD_CONVERSATIONS_CACHE_SECONDS",
      { HELD_CONVERSATIONS_CACHE_SECONDS: "90" },
      "HELD_CONVERSATIONS_CACHE_SECONDS must be at most 30",
    ],
    ["LOG_LEVEL", { LOG_LEVEL: "verbose" }, "LOG_LEVEL must be one of debug, info, warn, error"],
    ["PORT", { PORT: "abc" }, "PORT must be a whole number from 0 to 65535"],
  ])("a bad %s: one line naming it and its rule, exit 1, no banner", async (_name, env, line) => {
    const dir = workDir();
    const started = run(process.execPath, [startScript], dir, env);
    expect(await started.exited).toBe(1);
    expect(started.stderr()).toBe(`Invalid configuration: ${line}\n`);
    expect(started.stdout()).not.toContain("running");
    expect(processesUsing(dir)).toEqual([]);
  });

  it("never prints the value of a secret it refuses", async () => {
    const started = run(process.execPath, [startScript], workDir(), { ADMIN_TOKEN: "s3cr3t-value" });
    expect(await started.exited).toBe(1);
    expect(started.stderr()).not.toContain("s3cr3t-value");
  });

  it("says in one line that Java is missing, and which Debian package provides it", async () => {
    const started = run(process.execPath, [startScript], workDir(), { PATH: "/nonexistent", PORT: "0" });
    expect(await started.exited).toBe(1);
    expect(started.stderr().trim().split("\n")).toEqual([
      expect.stringMatching(
        /^npm start failed: Java not found: .*apt-get install openjdk-17-jre-headless\)$/,
      ),
    ]);
  });
});

describe("npm start stops what it started", () => {
  let busy: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (busy ? busy.close(() => resolve()) : resolve()));
    busy = undefined;
  });

  it("on a busy PORT: says so in one line and leaves no DynamoDB Local on the data directory", async () => {
    const port = await freePort();
    busy = createServer();
    await new Promise<void>((resolve) => busy?.listen(port, "127.0.0.1", resolve));
    const dir = workDir();
    const started = run(process.execPath, [startScript], dir, { PORT: String(port) });
    expect(await started.exited).toBe(1);
    expect(started.stderr()).toBe(
      `PORT ${port} is in use: stop what listens there or set PORT to another port\n`,
    );
    expect(processesUsing(dir)).toEqual([]);
  });

  it("on SIGTERM to the npm process, like Ctrl-C", async () => {
    // npm runs the script in its own directory: a package.json that starts this repository's stack.
    const dir = workDir();
    const scripts = (
      JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { scripts: { start: string } }
    ).scripts;
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ name: "start-probe", scripts: { start: scripts.start } }),
    );
    symlinkSync(join(repo, "local"), join(dir, "local"));
    const npm = run("npm", ["start", "--silent"], dir, { PORT: String(await freePort()) });
    await until(() => npm.stdout().includes("Press Ctrl-C to stop."), "the banner");
    expect(processesUsing(join(dir, ".local")).length).toBeGreaterThan(0);
    npm.child.kill("SIGTERM");
    expect(await npm.exited).toBe(0);
    await until(
      () => processesUsing(join(dir, ".local")).length === 0,
      "every process of the stack ending",
      15_000,
    );
  });
});
