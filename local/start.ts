import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { settingProblems } from "#shared/config.ts";
import { generateSecret, type LocalStack, startLocalStack } from "./stack.ts";

/**
 * `npm start` — the whole system on this machine: DynamoDB Local, the SQS/S3 emulator, the API gateway
 * on PORT and the queue pollers. Data lives under .local/ between runs; `npm start -- --fresh` empties it.
 */
const { values } = parseArgs({ options: { fresh: { type: "boolean", default: false } } });

// Checked before anything starts: a bad value stops here with one line per problem, not a banner
// followed by failing requests.
const port = Number(process.env.PORT ?? 3000);
const problems = settingProblems(process.env);
if (!Number.isInteger(port) || port < 0 || port > 65_535)
  problems.unshift("PORT must be a whole number from 0 to 65535");
if (problems.length) {
  for (const problem of problems) console.error(`Invalid configuration: ${problem}`);
  process.exit(1);
}

// Installed before the start, so a signal during it still stops what has started.
let stack: LocalStack | undefined;
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log("Stopping…");
    if (stack) void stopAndExit(stack, 0);
  });
}

async function stopAndExit(running: LocalStack, code: number): Promise<never> {
  try {
    await running.stop();
  } catch (error) {
    console.error(error);
    process.exit(1);
  }
  process.exit(code);
}
const home = join(process.cwd(), ".local");
const dataDir = join(home, "data");
if (values.fresh) rmSync(dataDir, { recursive: true, force: true });
mkdirSync(join(dataDir, "dynamodb"), { recursive: true });
mkdirSync(join(dataDir, "sqs-s3"), { recursive: true });

const secretsFile = join(home, "secrets.json");
if (!existsSync(secretsFile)) {
  writeFileSync(
    secretsFile,
    JSON.stringify({ adminToken: generateSecret(), encryptionKey: generateSecret() }),
    {
      mode: 0o600,
    },
  );
}
const saved = JSON.parse(readFileSync(secretsFile, "utf8")) as { adminToken: string; encryptionKey: string };
const adminToken = process.env.ADMIN_TOKEN ?? saved.adminToken;

try {
  stack = await startLocalStack({ port, dataDir, adminToken, encryptionKey: saved.encryptionKey });
} catch (error) {
  // startLocalStack has stopped whatever it started; say why in one line.
  const code = (error as NodeJS.ErrnoException).code;
  console.error(
    code === "EADDRINUSE"
      ? `PORT ${port} is in use: stop what listens there or set PORT to another port`
      : `npm start failed: ${(error as Error).message}`,
  );
  process.exit(1);
}
if (stopping) await stopAndExit(stack, 0);

const base = process.env.PUBLIC_BASE_URL ?? `http://localhost:${stack.port}`;
console.log(`
separator-waba is running (data: ${dataDir}${values.fresh ? ", started fresh" : ""})

  Admin API      ${base}/api/admin/   (Authorization: Bearer ${adminToken})
  OpenAPI        ${base}/api/admin/openapi.json
  Health         ${base}/api/health

  Meta callback  ${base}/api/waba/   or   ${base}/api/waba/?app_id=YOUR_APP_ID
                 Verify token: create the app (POST /api/admin/apps), then copy verifyToken
                 from GET /api/admin/wabas or GET /api/admin/apps.
  Bitrix24       ${base}/api/bitrix/   (install and events: "Initial installation path")
                 ${base}/api/bitrix/app/   (the app's page: "Your handler path")
                 ${base}/api/bitrix/sms/   (SMS provider)${
                   new URL(base).hostname.includes(".")
                     ? ""
                     : "\n                 Bitrix24 refuses handler URLs without a dotted host: set PUBLIC_BASE_URL=http://127.0.0.1:" +
                       stack.port
                 }

  DynamoDB Local ${stack.endpoints.dynamoEndpoint}   SQS/S3 ${stack.endpoints.awsEndpoint}
Press Ctrl-C to stop.
`);
