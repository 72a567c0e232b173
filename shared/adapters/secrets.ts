import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Config } from "../config.ts";

/**
 * Secrets come from the environment (local stack) or, in AWS, from the stack's two Secrets Manager
 * secrets, read once per cold start with the SDK client. The Parameters-and-Secrets extension layer would
 * save about 15 KB of bundle but exists for arm64 in only some regions; the client works in every one.
 * The data-encryption key and the admin token live in separate secrets so that only the admin API's role
 * can read the token.
 */
let client: SecretsManagerClient | undefined;

async function readJsonSecret(secretId: string, key: string): Promise<string> {
  client ??= new SecretsManagerClient({});
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  let value: Record<string, unknown> = {};
  try {
    value = JSON.parse(out.SecretString ?? "{}") as Record<string, unknown>;
  } catch {
    // Reported below without the value: a secret's text never reaches a log.
  }
  const found = value[key];
  if (typeof found !== "string" || found.length === 0) {
    throw new Error(`The secret ${secretId} must hold JSON with a non-empty ${key}`);
  }
  return found;
}

/** The key that seals stored credentials (app secrets, access tokens, OAuth tokens). */
export async function loadEncryptionKey(config: Config): Promise<string> {
  if (config.ENCRYPTION_KEY) return config.ENCRYPTION_KEY;
  if (!config.ENCRYPTION_KEY_SECRET_ARN) throw new Error("Set ENCRYPTION_KEY_SECRET_ARN, or ENCRYPTION_KEY");
  return readJsonSecret(config.ENCRYPTION_KEY_SECRET_ARN, "encryptionKey");
}

/** The admin API's bearer token; only functions answering the admin API are allowed to read it. */
export async function loadAdminToken(config: Config): Promise<string> {
  if (config.ADMIN_TOKEN) return config.ADMIN_TOKEN;
  if (!config.ADMIN_TOKEN_SECRET_ARN) throw new Error("Set ADMIN_TOKEN_SECRET_ARN, or ADMIN_TOKEN");
  return readJsonSecret(config.ADMIN_TOKEN_SECRET_ARN, "adminToken");
}
