import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Config } from "../config.ts";

export interface Secrets {
  readonly adminToken: string;
  readonly encryptionKey: string;
}

/** Secrets from the environment (local stack) or from the stack's Secrets Manager secret (AWS). */
export async function loadSecrets(config: Config): Promise<Secrets> {
  if (config.ADMIN_TOKEN && config.ENCRYPTION_KEY) {
    return { adminToken: config.ADMIN_TOKEN, encryptionKey: config.ENCRYPTION_KEY };
  }
  if (!config.SECRETS_ARN) throw new Error("Set SECRETS_ARN, or both ADMIN_TOKEN and ENCRYPTION_KEY");
  const out = await new SecretsManagerClient({}).send(
    new GetSecretValueCommand({ SecretId: config.SECRETS_ARN }),
  );
  const value = JSON.parse(out.SecretString ?? "{}") as Partial<Secrets>;
  if (!value.adminToken || !value.encryptionKey) {
    throw new Error("The secret must hold JSON with adminToken and encryptionKey");
  }
  return { adminToken: value.adminToken, encryptionKey: value.encryptionKey };
}
