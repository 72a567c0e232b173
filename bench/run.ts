/**
 * `npm run bench` — prints numbers, asserts nothing:
 *  1. the webhook's own work per request (signature check + parse + split) next to its floor
 *     (HMAC-SHA256 + JSON.parse alone), in-process on Meta's documented text webhook;
 *  2. each function's minified bundle size, built with the deployment's esbuild options;
 *  3. each bundle's cold import time in a fresh Node process (median of 10);
 *  4. what each library choice costs a bundle (bench/library-choices.ts);
 *  5. peak memory over baseline moving a 100 MB file each way (bench/memory.ts);
 *  6. inbound end to end on the local stack against the fakes (bench/inbound.ts).
 */
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signWebhookBody } from "#shared/domain/webhook-signature.ts";
import { makeLogger } from "#shared/logger.ts";
import { noMetrics } from "#shared/ports/metrics.ts";
import type { AppRecord } from "#shared/ports/store.ts";
import { functions } from "#shared/resources.ts";
import { makeIngestWebhook } from "#shared/use-cases/ingest-webhook.ts";
import { inboundBench } from "./inbound.ts";
import { bundle, libraryChoices } from "./library-choices.ts";
import { memoryBench } from "./memory.ts";

const repo = new URL("../", import.meta.url);
const body = readFileSync(new URL("test/fixtures/meta/webhook_text.json", repo));
const secret = "bench-app-secret";
const signature = signWebhookBody(body, secret);

function usPerOp(label: string, iterations: number, op: () => unknown): number {
  for (let i = 0; i < iterations / 10; i++) op();
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) op();
    runs.push(Number(process.hrtime.bigint() - start) / 1000 / iterations);
  }
  const median = runs.sort((a, b) => a - b)[2] ?? 0;
  console.log(`  ${label.padEnd(44)} ${median.toFixed(2).padStart(8)} µs/request`);
  return median;
}

async function usPerOpAsync(label: string, iterations: number, op: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < iterations / 10; i++) await op();
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await op();
    runs.push(Number(process.hrtime.bigint() - start) / 1000 / iterations);
  }
  const median = runs.sort((a, b) => a - b)[2] ?? 0;
  console.log(`  ${label.padEnd(44)} ${median.toFixed(2).padStart(8)} µs/request`);
  return median;
}

async function ingestCost(): Promise<void> {
  console.log(`\nWebhook ingest, in-process (${body.length}-byte documented text webhook, queue excluded)`);
  const app: AppRecord = {
    appId: "1",
    name: "bench",
    appSecret: secret,
    domains: [],
    graphApiVersion: "v25.0",
    verifyToken: "t",
    createdAt: "",
    updatedAt: "",
  };
  // The fixture's WABA and number belong to the bench app, as a registered tenant's would.
  const apps = {
    byId: async () => app,
    byHost: async () => [app],
    byVerifyToken: async () => app,
    appOfWaba: async () => app.appId,
    wabaOfPhone: async () => "102290129340398",
  };
  const ingest = makeIngestWebhook({
    apps,
    queue: { enqueue: async () => undefined },
    metrics: noMetrics,
    logger: makeLogger("bench"),
  });
  const n = 20_000;
  const floor = usPerOp("floor: HMAC-SHA256 + JSON.parse", n, () => {
    createHmac("sha256", secret).update(body).digest();
    return JSON.parse(body.toString("utf8"));
  });
  const full = await usPerOpAsync("ingest: verify + parse + tenancy + split", n, () =>
    ingest({ appId: "1", host: "h", body, signature }),
  );
  console.log(`  ratio to floor ${(full / floor).toFixed(2)}× (target ≤ 2×)`);
}

async function bundles(): Promise<void> {
  console.log("\nFunction bundles (deployment esbuild options; minified JS without source map)");
  const dir = mkdtempSync(join(tmpdir(), "separator-waba-bench-"));
  try {
    for (const def of Object.values(functions)) {
      const outfile = join(dir, def.name, "index.mjs");
      const size = await bundle(def.entry, outfile);
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const out = execFileSync(process.execPath, [
          "--input-type=module",
          "-e",
          `const t=performance.now();await import(${JSON.stringify(outfile)});console.log(performance.now()-t)`,
        ]);
        times.push(Number(out.toString().trim()));
      }
      const median = times.sort((a, b) => a - b)[5] ?? 0;
      const target = def.name === "waba-webhook" ? 600 : 1000;
      console.log(
        `  ${def.name.padEnd(16)} ${(size / 1024).toFixed(0).padStart(5)} KB (target ≤ ${target} KB)   cold import ${median.toFixed(1).padStart(6)} ms (median of 10)`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`separator-waba bench — Node ${process.version}, ${new Date().toISOString()}`);
await ingestCost();
await bundles();
await libraryChoices();
await memoryBench();
await inboundBench();
