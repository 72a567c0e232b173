/**
 * What a library choice costs each bundle: the function is bundled as deployed, then again with one
 * module replaced by a stand-in, and both sizes and cold import times (fresh Node process, interleaved,
 * median of 15) are printed. Asserts nothing.
 *  - Secrets Manager client vs the Parameters-and-Secrets extension (whose client side is one fetch).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Plugin } from "esbuild";
import { functions } from "#shared/resources.ts";
import { bundling } from "../infra/bundling.ts";

const repo = new URL("../", import.meta.url);

function standIn(filter: RegExp, contents: string): Plugin {
  return {
    name: `stand-in ${filter}`,
    setup(b) {
      b.onResolve({ filter }, () => ({ path: "stand-in", namespace: "stand-in" }));
      b.onLoad({ filter: /.*/, namespace: "stand-in" }, () => ({ contents, loader: "js" }));
    },
  };
}

const choices: { label: string; plugin: Plugin }[] = [
  {
    label: "extension fetch instead of the Secrets Manager client",
    plugin: standIn(
      /^@aws-sdk\/client-secrets-manager$/,
      "export class SecretsManagerClient{send(c){return fetch('http://localhost:2773/secretsmanager/get?secretId='+c.input.SecretId).then(r=>r.json())}}export class GetSecretValueCommand{constructor(input){this.input=input}}",
    ),
  },
];

/** Bundles a function entry with the deployment's esbuild options (plus `plugins`); returns its size. */
export async function bundle(entry: string, outfile: string, plugins: Plugin[] = []): Promise<number> {
  await build({
    entryPoints: [new URL(entry, repo).pathname],
    bundle: true,
    outfile,
    format: bundling.format,
    platform: bundling.platform,
    target: bundling.target,
    minify: bundling.minify,
    keepNames: bundling.keepNames,
    mainFields: [...bundling.mainFields],
    banner: { js: bundling.banner },
    logLevel: "error",
    plugins,
  });
  return statSync(outfile).size;
}

function coldImports(files: string[], runs: number): number[] {
  const times = files.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) {
    for (const [n, file] of files.entries()) {
      const out = execFileSync(process.execPath, [
        "--input-type=module",
        "-e",
        `const t=performance.now();await import(${JSON.stringify(file)});console.log(performance.now()-t)`,
      ]);
      times[n]?.push(Number(out.toString().trim()));
    }
  }
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(runs / 2)] ?? 0);
}

export async function libraryChoices(): Promise<void> {
  console.log("\nLibrary choices (bundle as deployed vs with the choice swapped; cold import median of 15)");
  const dir = mkdtempSync(join(tmpdir(), "separator-waba-choices-"));
  try {
    for (const name of ["waba-webhook", "inbound-worker"] as const) {
      const entry = functions[name].entry;
      const asDeployed = join(dir, name, "deployed.mjs");
      const deployedSize = await bundle(entry, asDeployed, []);
      for (const [n, choice] of choices.entries()) {
        const swapped = join(dir, name, `choice-${n}.mjs`);
        const swappedSize = await bundle(entry, swapped, [choice.plugin]);
        const [a = 0, b = 0] = coldImports([asDeployed, swapped], 15);
        console.log(
          `  ${name.padEnd(15)} ${choice.label.padEnd(55)} ${((deployedSize - swappedSize) / 1024).toFixed(1).padStart(6)} KB more as deployed; cold import ${a.toFixed(1)} vs ${b.toFixed(1)} ms`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
