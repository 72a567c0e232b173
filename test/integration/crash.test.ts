import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, describe, expect, it } from "vitest";
import { queueConsumedBy } from "#shared/resources.ts";
import { freePort } from "../../local/emulators.ts";
import { type BitrixFake, startBitrixFake } from "../fakes/bitrix24.ts";
import { type MetaGraphFake, signWebhook, startMetaGraphFake } from "../fakes/meta-graph.ts";
import { FULL, judge } from "../support/faults.ts";
import { eventually } from "../support/stack.ts";
import {
  type AdminTarget,
  APP_ID,
  APP_SECRET,
  connectBusiness,
  textWebhook,
  WABA_TOKEN,
} from "../support/world.ts";

/**
 * `kill -9` of the whole local stack (gateway, pollers, DynamoDB Local, the SQS/S3 emulator) while
 * customers write, then `npm start` again on the same data directory, without `--fresh`: every webhook
 * the stack answered 200 before the kill reaches Bitrix24. A message may arrive twice only if its first
 * arrival came before the kill (delivered, then the worker died before it could record that); any other
 * repeat is unexplained. The queues are `npm start`'s, with the production visibility timeout, so how long
 * a conversation the dead worker held waits is measured, not modelled: its messages come back once their
 * visibility runs out, at most one visibility timeout after the kill (or as soon as the restarted stack is
 * up, if that took longer). A wait beyond that plus a margin means something waited for a second period.
 * Runs under `npm run test:faults` (two cold starts of DynamoDB Local and a wait of up to one production
 * visibility timeout take longer than `npm test` should).
 */
const repo = fileURLToPath(new URL("../../", import.meta.url));
const startScript = join(repo, "local", "start.ts");
const ADMIN_TOKEN = "crash-admin-token-not-a-secret";
const CUSTOMERS = 20;
const PER_CUSTOMER = 15;
/** Webhooks the stack takes before the kill; the rest of the load stops at the kill. */
const KILL_AFTER = 150;
/** Room after the visibility runs out for a poll, a delivery and a 1 s retry backoff; far below a second period. */
const MARGIN_SECONDS = 20;
const inbound = queueConsumedBy("inbound-worker");

let meta: MetaGraphFake | undefined;
let bitrix: BitrixFake | undefined;
let running: ChildProcess | undefined;
/** The stack's working directory (its `.local/`), made when the test runs. */
let dir = "";

afterAll(async () => {
  if (running?.pid && running.exitCode === null) killGroup(running);
  await Promise.all([meta?.close(), bitrix?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Started {
  readonly child: ChildProcess;
  /** The SQS/S3 emulator's endpoint, as the banner prints it. */
  readonly sqsEndpoint: string;
}

/** `npm start`'s script, in its own process group (so one signal reaches DynamoDB Local too). */
async function start(port: number, env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [startScript], {
    cwd: dir,
    detached: true,
    env: {
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`,
      HOME: process.env.HOME,
      PORT: String(port),
      ADMIN_TOKEN,
      LOG_LEVEL: "error",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", () => {});
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}`);
    return out.includes("Press Ctrl-C to stop.") ? true : undefined;
  }, 90_000);
  return { child, sqsEndpoint: /SQS\/S3 (\S+)/.exec(out)?.[1] ?? "" };
}

/** The visibility timeout the running stack's inbound queue was created with. */
async function inboundVisibilitySeconds(endpoint: string): Promise<number> {
  const sqs = new SQSClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  try {
    const { QueueUrl } = await sqs.send(
      new GetQueueUrlCommand({ QueueName: `separator-waba-${inbound.name}.fifo` }),
    );
    const out = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["VisibilityTimeout"] }),
    );
    return Number(out.Attributes?.VisibilityTimeout);
  } finally {
    sqs.destroy();
  }
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

function killGroup(child: ChildProcess): void {
  if (child.pid) process.kill(-child.pid, "SIGKILL");
}

function adminOf(url: string): AdminTarget {
  return {
    url,
    async admin(method, path, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}

async function post(url: string, payload: unknown): Promise<number> {
  const body = JSON.stringify(payload);
  try {
    const res = await fetch(`${url}/api/waba/?app_id=${APP_ID}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-hub-signature-256": signWebhook(body, APP_SECRET),
      },
      body,
    });
    return res.status;
  } catch {
    return 0; // refused: the stack is gone
  }
}

describe.skipIf(!FULL)("kill -9 of the whole stack mid-load, restarted without --fresh", () => {
  it("delivers every accepted message, repeats none after the restart", async () => {
    dir = mkdtempSync(join(tmpdir(), "waba-crash-"));
    meta = await startMetaGraphFake();
    meta.addToken(WABA_TOKEN);
    bitrix = await startBitrixFake();
    const env = {
      GRAPH_API_BASE_URL: meta.url,
      BITRIX_OAUTH_URL: bitrix.oauthUrl,
      RETRY_BASE_SECONDS: "1",
      RETRY_MAX_SECONDS: "1",
    };
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = await start(port, env);
    running = first.child;
    const visibility = await inboundVisibilitySeconds(first.sqsEndpoint);
    const memberId = await connectBusiness(adminOf(url), bitrix);
    const portal = bitrix.portal(memberId);

    const customers = Array.from({ length: CUSTOMERS }, (_, c) => `15550700${String(c).padStart(3, "0")}`);
    const sent = new Map<string, string[]>(customers.map((c) => [c, []]));
    const chatOf = new Map<string, string>();
    let accepted = 0;
    let arrivedBeforeKill = new Set<string>();
    let killedAt = 0;
    load: for (let i = 0; i < PER_CUSTOMER; i++) {
      for (const from of customers) {
        const id = `wamid.crash-${from}-${i}`;
        if (accepted === KILL_AFTER) {
          killGroup(running);
          killedAt = Date.now();
          arrivedBeforeKill = new Set(portal.messages.map((m) => String(m.message.id)));
          break load;
        }
        if ((await post(url, textWebhook([{ id, from, body: `crash ${i}` }]))) !== 200) break load;
        accepted += 1;
        sent.get(from)?.push(id);
        chatOf.set(id, from);
      }
    }
    await new Promise<void>((resolve) =>
      running?.exitCode !== null ? resolve() : running.once("exit", () => resolve()),
    );
    running = (await start(port, env)).child;
    const restartedAt = Date.now();

    const arrivals = () => portal.messages.map((m) => String(m.message.id)).filter((id) => chatOf.has(id));
    // The dead worker's messages come back once their visibility lapses (the heartbeat keeps it short).
    await eventually(async () => (new Set(arrivals()).size >= accepted ? true : undefined), 240_000).catch(
      () => undefined,
    );
    // Per conversation with messages still to deliver at the kill: when its next one reached Bitrix24.
    const backAt: number[] = [];
    for (const ids of sent.values()) {
      const pending = new Set(ids.filter((id) => !arrivedBeforeKill.has(id)));
      if (pending.size === 0) continue;
      const next = portal.messages.find((m) => pending.has(String(m.message.id)));
      backAt.push(next ? next.at : Number.POSITIVE_INFINITY);
    }
    backAt.sort((a, b) => a - b);
    const medianAt = backAt[Math.floor((backAt.length - 1) / 2)] ?? killedAt;
    const worstAt = backAt.at(-1) ?? killedAt;
    const arrived = new Map<string, string[]>(customers.map((c) => [c, []]));
    for (const id of arrivals()) arrived.get(chatOf.get(id) as string)?.push(id);
    const verdict = judge(sent, arrived, arrivedBeforeKill);
    const unexplained = verdict.duplicated - verdict.afterAmbiguous;
    console.log(
      `crash: ${accepted} accepted before the kill, ${verdict.lost} lost, ${verdict.duplicated} duplicated` +
        ` (${verdict.afterAmbiguous} first delivered before the kill; ${arrivedBeforeKill.size} had arrived by then);` +
        ` ${backAt.length} pending conversations back after the kill: median ${seconds(medianAt - killedAt)} s,` +
        ` worst ${seconds(worstAt - killedAt)} s (after the restart: median ${seconds(medianAt - restartedAt)} s,` +
        ` worst ${seconds(worstAt - restartedAt)} s; restart took ${seconds(restartedAt - killedAt)} s,` +
        ` visibility timeout ${visibility} s)`,
    );
    // The local queues are the production ones, so the wait measured is the one AWS would give.
    expect(visibility).toBe(inbound.visibilityTimeoutSeconds);
    expect(accepted).toBe(KILL_AFTER);
    expect(verdict.lost).toBe(0);
    expect(unexplained).toBe(0);
    // A correctness bound, not a speed target: nothing waited for a second visibility period.
    const bound = Math.max(visibility, (restartedAt - killedAt) / 1000) + MARGIN_SECONDS;
    expect((worstAt - killedAt) / 1000).toBeLessThanOrEqual(bound);
  }, 480_000);
});
