import { z } from "zod";

/**
 * Configuration, validated once at cold start. The names are the same locally and in Lambda
 * (README "Configuration"); a bad value stops the function with a message that names it.
 */
const schema = z.object({
  TABLE_NAME: z.string().min(1),
  INBOUND_QUEUE_URL: z.url(),
  GRAPH_API_BASE_URL: z.url().default("https://graph.facebook.com"),
  BITRIX_OAUTH_URL: z.url().default("https://oauth.bitrix.info"),
  PUBLIC_BASE_URL: z.url().optional(),
  LINE_PREFIX: z.string().min(1).default("separator_"),
  /** Secrets: given directly (local stack), or read from Secrets Manager at cold start (AWS). */
  ADMIN_TOKEN: z.string().min(16).optional(),
  ENCRYPTION_KEY: z.string().min(32).optional(),
  SECRETS_ARN: z.string().min(1).optional(),
  /** Set by the local stack: plain HTTP to loopback addresses is allowed only then. */
  LOCAL_STACK: z.enum(["1"]).optional(),
  HTTP_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
});

export type Config = z.infer<typeof schema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid configuration: ${problems}`);
  }
  return parsed.data;
}
