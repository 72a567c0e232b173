import { AsyncLocalStorage } from "node:async_hooks";

/**
 * One JSON line per log entry (CloudWatch-friendly). Values under keys that name secrets are replaced
 * before anything is written, wherever they sit in the object.
 */
const SECRET_KEY = /secret|token|password|authorization|signature|^auth$|access_?key/i;

type Level = "debug" | "info" | "warn" | "error";

export interface Logger {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== "object") return value;
  // The stack says where; its first line is the message again, which already passes through here.
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = SECRET_KEY.test(k) ? "[redacted]" : redact(v, depth + 1);
  return out;
}

/** The invocation each line belongs to; the local stack runs invocations side by side in one process. */
const requestScope = new AsyncLocalStorage<string>();

/**
 * Wraps a Lambda handler so that every line logged while it runs carries the invocation's request id
 * (Lambda's `awsRequestId`, else API Gateway's request id), to find one request's lines in CloudWatch.
 */
export function withRequestId<E, C extends { awsRequestId?: string } | undefined, R>(
  handle: (event: E, context: C) => Promise<R>,
): (event: E, context: C) => Promise<R> {
  return (event, context) => {
    const fromGateway = (event as { requestContext?: { requestId?: unknown } } | undefined)?.requestContext
      ?.requestId;
    const requestId = context?.awsRequestId ?? (typeof fromGateway === "string" ? fromGateway : undefined);
    return requestId ? requestScope.run(requestId, () => handle(event, context)) : handle(event, context);
  };
}

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  readonly write?: (line: string) => void;
  /** Defaults to LOG_LEVEL, else info. */
  readonly level?: Level;
}

let sink = (line: string) => {
  process.stdout.write(`${line}\n`);
};

/**
 * Where loggers without their own `write` put their lines from now on (stdout until then): a local stack
 * given a log of its own keeps the handlers' lines there too, so a test run prints none of them.
 */
export function routeLogLines(write: (line: string) => void): void {
  sink = write;
}

/**
 * Writes one line where log lines go: stdout in Lambda (where CloudWatch reads log and metric lines
 * alike), the local stack's own log when it was given one.
 */
export function writeLogLine(line: string): void {
  sink(line);
}

export function makeLogger(service: string, options: LoggerOptions = {}): Logger {
  const write = options.write ?? writeLogLine;
  const level = options.level ?? ((process.env.LOG_LEVEL ?? "info").toLowerCase() as Level);
  const min = RANK[level] ?? RANK.info;
  const log = (level: Level, message: string, data?: Record<string, unknown>) => {
    if (RANK[level] < min) return;
    write(
      JSON.stringify({
        level,
        time: new Date().toISOString(),
        service,
        ...(requestScope.getStore() ? { requestId: requestScope.getStore() } : {}),
        message,
        ...(redact(data) as object),
      }),
    );
  };
  return {
    debug: (m, d) => log("debug", m, d),
    info: (m, d) => log("info", m, d),
    warn: (m, d) => log("warn", m, d),
    error: (m, d) => log("error", m, d),
  };
}
