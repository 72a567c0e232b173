// zod/mini keeps every function's bundle small; the admin API's richer schemas use full zod.
import * as z from "zod/mini";

/**
 * Configuration, validated once at cold start. The names are the same locally and in Lambda
 * (README "Configuration"); a bad value stops the function with a message that names it.
 */
const nonEmpty = () => z.string().check(z.minLength(1));

const schema = z.object({
  TABLE_NAME: nonEmpty(),
  INBOUND_QUEUE_URL: z.url(),
  OUTBOUND_QUEUE_URL: z.optional(z.url()),
  GRAPH_API_BASE_URL: z._default(z.url(), "https://graph.facebook.com"),
  BITRIX_OAUTH_URL: z._default(z.url(), "https://oauth.bitrix.info"),
  PUBLIC_BASE_URL: z.optional(z.url()),
  /** The Bitrix24 frame library (BX24) the app's pages load; tests point it at a loopback stand-in. */
  BITRIX_FRAME_SCRIPT_URL: z._default(z.url(), "https://api.bitrix24.com/api/v1/"),
  LINE_PREFIX: z._default(nonEmpty(), "separator_"),
  /** Secrets: given directly (local stack), or read from the stack's secret at cold start (AWS). */
  ADMIN_TOKEN: z.optional(z.string().check(z.minLength(16))),
  ENCRYPTION_KEY: z.optional(z.string().check(z.minLength(32))),
  SECRETS_ARN: z.optional(nonEmpty()),
  /** Set by the local stack: plain HTTP to loopback addresses is allowed only then. */
  LOCAL_STACK: z.optional(z.enum(["1"])),
  /** Local stack only: `0` refuses loopback URLs as a Lambda does (see allowsLoopbackUrls). */
  ALLOW_LOOPBACK_URLS: z._default(z.enum(["0", "1"]), "1"),
  HTTP_TIMEOUT_MS: z._default(z.coerce.number().check(z.int(), z.positive()), 10_000),
  MEDIA_BUCKET: z.optional(nonEmpty()),
  /** Backoff of a failed queue message: base × 2^(attempt − 1) seconds, capped. */
  RETRY_BASE_SECONDS: z._default(z.coerce.number().check(z.nonnegative()), 2),
  RETRY_MAX_SECONDS: z._default(z.coerce.number().check(z.nonnegative()), 300),
  /** How long a worker's claim on a message holds before another may deliver it (crash recovery). */
  DELIVERY_LEASE_SECONDS: z._default(z.coerce.number().check(z.positive()), 60),
  /** Lifetime of the presigned media URLs handed to Bitrix24. */
  MEDIA_URL_TTL_SECONDS: z._default(z.coerce.number().check(z.int(), z.positive()), 86_400),
});

export type Config = z.infer<typeof schema>;

/**
 * Whether URLs from outside may lead to loopback (the local stack's fakes): only in the local stack,
 * there by default, never in a Lambda whatever its variables say.
 */
export function allowsLoopbackUrls(config: Config, env: NodeJS.ProcessEnv = process.env): boolean {
  return config.LOCAL_STACK === "1" && config.ALLOW_LOOPBACK_URLS === "1" && !env.AWS_LAMBDA_FUNCTION_NAME;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${describe(i)}`).join("; ");
    throw new Error(`Invalid configuration: ${problems}`);
  }
  return parsed.data;
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_format") return `not a valid ${issue.format}`;
  if (issue.code === "too_small") return `shorter than ${String(issue.minimum)}`;
  if (issue.code === "invalid_type") return `missing or not a ${issue.expected}`;
  return issue.code;
}
