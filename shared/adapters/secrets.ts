import type { Config } from "../config.ts";

export interface Secrets {
  readonly adminToken: string;
  readonly encryptionKey: string;
}

/**
 * Secrets from the environment (local stack) or, in AWS, from the stack's Secrets Manager secret through
 * the AWS Parameters and Secrets Lambda Extension (a local HTTP endpoint that caches the value) — which
 * keeps the Secrets Manager client out of every bundle.
 */
export async function loadSecrets(config: Config): Promise<Secrets> {
  if (config.ADMIN_TOKEN && config.ENCRYPTION_KEY) {
    return { adminToken: config.ADMIN_TOKEN, encryptionKey: config.ENCRYPTION_KEY };
  }
  if (!config.SECRETS_ARN) throw new Error("Set SECRETS_ARN, or both ADMIN_TOKEN and ENCRYPTION_KEY");
  const port = process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? "2773";
  const res = await fetch(
    `http://localhost:${port}/secretsmanager/get?secretId=${encodeURIComponent(config.SECRETS_ARN)}`,
    { headers: { "X-Aws-Parameters-Secrets-Token": process.env.AWS_SESSION_TOKEN ?? "" } },
  );
  if (!res.ok) throw new Error(`Secrets extension answered HTTP ${res.status} for the stack secret`);
  const { SecretString } = (await res.json()) as { SecretString?: string };
  const value = JSON.parse(SecretString ?? "{}") as Partial<Secrets>;
  if (!value.adminToken || !value.encryptionKey) {
    throw new Error("The secret must hold JSON with adminToken and encryptionKey");
  }
  return { adminToken: value.adminToken, encryptionKey: value.encryptionKey };
}
