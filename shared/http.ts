import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { ZodType } from "zod";
import { AppError, ValidationError } from "./errors.ts";
import type { Logger } from "./logger.ts";

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  };
}

export function text(
  statusCode: number,
  body: string,
  contentType = "text/plain; charset=utf-8",
): HttpResult {
  return { statusCode, headers: { "content-type": contentType }, body };
}

export function noContent(): HttpResult {
  return { statusCode: 204 };
}

/** The bytes the caller sent: API Gateway base64-encodes bodies it does not treat as text. */
export function rawBody(event: HttpEvent): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? "base64" : "utf8");
}

export function header(event: HttpEvent, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** The host the caller used, without the port (an app's `domains` hold host names only). */
export function requestHost(event: HttpEvent): string {
  const host = header(event, "x-forwarded-host") ?? header(event, "host") ?? event.requestContext.domainName;
  return stripPort(host.split(",")[0]?.trim().toLowerCase() ?? "");
}

export function stripPort(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  const colon = host.lastIndexOf(":");
  return colon > -1 && host.indexOf(":") === colon ? host.slice(0, colon) : host;
}

/** The origin this deployment is reached under, for URLs we hand out. */
export function publicBaseUrl(event: HttpEvent, configured: string | undefined): string {
  if (configured) return configured.replace(/\/+$/, "");
  const proto = header(event, "x-forwarded-proto") ?? "https";
  const host = header(event, "x-forwarded-host") ?? header(event, "host") ?? event.requestContext.domainName;
  return `${proto}://${host}`;
}

export function parseWith<T>(schema: ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first?.path.length ? ` (${first.path.join(".")}: ${first.message})` : "";
    throw new ValidationError(`Invalid ${what}${where}`, parsed.error.issues);
  }
  return parsed.data;
}

/** The one place errors become HTTP answers: known errors say what is wrong; the rest say nothing inner. */
export function errorResponse(error: unknown, logger: Logger): HttpResult {
  if (error instanceof AppError) {
    if (error.status >= 500) logger.error(error.message, { code: error.code, details: error.details });
    return json(error.status, {
      error: {
        code: error.code,
        message: error.message,
        ...(error.details ? { details: error.details } : {}),
      },
    });
  }
  logger.error("Unhandled error", { error });
  return json(500, { error: { code: "internal", message: "Internal error" } });
}
