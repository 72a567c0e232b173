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
  /** The Bitrix24 OAuth servers we trust, comma-separated origins (see `bitrixOAuthServers`). */
  BITRIX_OAUTH_URLS: z.optional(
    nonEmpty().check(
      z.refine((v) => v.split(",").every((u) => URL.canParse(u.trim())), "not a list of valid urls"),
    ),
  ),
  /** A one-entry `BITRIX_OAUTH_URLS`: the local stack and the tests point it at their fake. */
  BITRIX_OAUTH_URL: z.optional(z.url()),
  PUBLIC_BASE_URL: z.optional(z.url()),
  /** The Bitrix24 frame library (BX24) the app's pages load; tests point it at a loopback stand-in. */
  BITRIX_FRAME_SCRIPT_URL: z._default(z.url(), "https://api.bitrix24.com/api/v1/"),
  LINE_PREFIX: z._default(nonEmpty(), "separator_"),
  /** Secrets: given directly (local stack), or read from the stack's secrets at cold start (AWS). */
  ADMIN_TOKEN: z.optional(z.string().check(z.minLength(16))),
  ENCRYPTION_KEY: z.optional(z.string().check(z.minLength(32))),
  /** In AWS: the secret holding `encryptionKey`, and (admin API only) the one holding `adminToken`. */
  ENCRYPTION_KEY_SECRET_ARN: z.optional(nonEmpty()),
  ADMIN_TOKEN_SECRET_ARN: z.optional(nonEmpty()),
  /** CloudWatch namespace of the metric lines the functions write (the stack sets one per stage). */
  METRICS_NAMESPACE: z._default(nonEmpty(), "SeparatorWaba"),
  /** Set by the local stack: plain HTTP to loopback addresses is allowed only then. */
  LOCAL_STACK: z.optional(z.enum(["1"])),
  /** Local stack only: `0` refuses loopback URLs as a Lambda does (see allowsLoopbackUrls). */
  ALLOW_LOOPBACK_URLS: z._default(z.enum(["0", "1"]), "1"),
  HTTP_TIMEOUT_MS: z._default(z.coerce.number().check(z.int(), z.positive()), 10_000),
  MEDIA_BUCKET: z.optional(nonEmpty()),
  /** Backoff of a failed queue message: base × 2^(attempt − 1) seconds, capped. */
  RETRY_BASE_SECONDS: z._default(z.coerce.number().check(z.nonnegative()), 2),
  RETRY_MAX_SECONDS: z._default(z.coerce.number().check(z.nonnegative()), 300),
  /**
   * How long a warm worker trusts its list of held conversations (conversations waiting behind a dead
   * letter); a worker that holds one keeps its batch this long, so no other acts on an older list (a
   * batch with less time left hands its dead letters back to the queue for the rest). Longer: fewer
   * reads while nothing is held, a longer wait after giving up. At most 30: a worker that dies after
   * holding one cannot keep it in flight, and its heartbeat only ensures two thirds of the queue's
   * visibility timeout (40 s inbound) before the next message is given out.
   */
  HELD_CONVERSATIONS_CACHE_SECONDS: z._default(z.coerce.number().check(z.nonnegative(), z.maximum(30)), 20),
  /** Lifetime of the presigned media URLs handed to Bitrix24. */
  MEDIA_URL_TTL_SECONDS: z._default(z.coerce.number().check(z.int(), z.positive()), 86_400),
  LOG_LEVEL: z._default(z.enum(["debug", "info", "warn", "error"]), "info"),
});

/** What an operator sets by hand (README "Configuration"); the stack sets the rest. */
const settable = z.pick(schema, {
  GRAPH_API_BASE_URL: true,
  BITRIX_OAUTH_URL: true,
  BITRIX_OAUTH_URLS: true,
  PUBLIC_BASE_URL: true,
  LINE_PREFIX: true,
  ADMIN_TOKEN: true,
  HTTP_TIMEOUT_MS: true,
  RETRY_BASE_SECONDS: true,
  RETRY_MAX_SECONDS: true,
  HELD_CONVERSATIONS_CACHE_SECONDS: true,
  MEDIA_URL_TTL_SECONDS: true,
  LOG_LEVEL: true,
});

export type Config = z.infer<typeof schema>;

/**
 * Whether URLs from outside may lead to loopback (the local stack's fakes): only in the local stack,
 * there by default, never in a Lambda whatever its variables say.
 */
export function allowsLoopbackUrls(config: Config, env: NodeJS.ProcessEnv = process.env): boolean {
  return config.LOCAL_STACK === "1" && config.ALLOW_LOOPBACK_URLS === "1" && !env.AWS_LAMBDA_FUNCTION_NAME;
}

/** West (oauth.bitrix.info) and east (.ru/.kz/.by portals: oauth.bitrix24.tech), as Bitrix24 runs them. */
export const DEFAULT_BITRIX_OAUTH_URLS = ["https://oauth.bitrix.info", "https://oauth.bitrix24.tech"];

/**
 * The OAuth servers a portal may name as its `server_endpoint`: `BITRIX_OAUTH_URLS`, else
 * `BITRIX_OAUTH_URL` alone, else both official regions. One deployment serves portals of every listed one.
 */
export function bitrixOAuthServers(config: Pick<Config, "BITRIX_OAUTH_URLS" | "BITRIX_OAUTH_URL">): string[] {
  const listed = config.BITRIX_OAUTH_URLS?.split(",")
    .map((u) => u.trim())
    .filter(Boolean);
  const servers = listed?.length
    ? listed
    : config.BITRIX_OAUTH_URL
      ? [config.BITRIX_OAUTH_URL]
      : DEFAULT_BITRIX_OAUTH_URLS;
  return servers.map((u) => u.replace(/\/+$/, ""));
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success)
    throw new Error(`Invalid configuration: ${problemsOf(parsed.error.issues).join("; ")}`);
  return parsed.data;
}

/**
 * The problems of the hand-set variables, one sentence each naming the variable and its rule (never its
 * value: it may be a secret). `npm start` checks these before it starts anything.
 */
export function settingProblems(env: NodeJS.ProcessEnv = process.env): string[] {
  const parsed = settable.safeParse(env);
  return parsed.success ? [] : problemsOf(parsed.error.issues);
}

function problemsOf(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.join(".")} ${describe(i)}`);
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_format")
    return `must be a valid ${issue.format === "url" ? "URL" : issue.format}`;
  if (issue.code === "too_small")
    return issue.origin === "string"
      ? `must be at least ${String(issue.minimum)} characters long`
      : `must be ${issue.inclusive ? "at least" : "greater than"} ${String(issue.minimum)}`;
  if (issue.code === "too_big")
    return issue.origin === "string"
      ? `must be at most ${String(issue.maximum)} characters long`
      : `must be ${issue.inclusive ? "at most" : "less than"} ${String(issue.maximum)}`;
  if (issue.code === "custom") return issue.message;
  if (issue.code === "invalid_value") return `must be one of ${issue.values.map(String).join(", ")}`;
  if (issue.code === "invalid_type")
    return issue.expected === "int" ? "must be a whole number" : `must be a ${issue.expected}`;
  return `is invalid (${issue.code})`;
}
