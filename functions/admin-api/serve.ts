import { createHash, timingSafeEqual } from "node:crypto";
import middy from "@middy/core";
import { loadAdminToken } from "#shared/adapters/secrets.ts";
import { parseUntrustedJson } from "#shared/domain/untrusted-json.ts";
import { AppError, NotFoundError, UnauthorizedError, ValidationError } from "#shared/errors.ts";
import {
  errorResponse,
  type HttpEvent,
  type HttpResult,
  header,
  publicBaseUrl,
  rawBody,
} from "#shared/http.ts";
import { type Logger, withRequestId } from "#shared/logger.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { type AdminRoute, matchRoute } from "./routes.ts";

/**
 * What every function answering `/api/admin/…` does around its routes: the bearer token, routing,
 * JSON bodies and error mapping. Shared by the admin API and the calling-settings function.
 */
const adminToken = lazy(async () => loadAdminToken((await getRuntime()).config));

export async function runAdminRoute<UseCases>(
  event: HttpEvent,
  routes: readonly AdminRoute<UseCases>[],
  useCases: () => Promise<UseCases>,
): Promise<HttpResult> {
  const method = event.requestContext.http.method;
  const path = event.rawPath;
  if (!bearerMatches(header(event, "authorization"), await adminToken())) throw new UnauthorizedError();

  const match = matchRoute(method, path, routes);
  if (!match) throw new NotFoundError(`No route ${method} ${path}`);
  if (match === "method-not-allowed")
    throw new AppError("method_not_allowed", 405, `${method} is not allowed on ${path}`);
  const { config } = await getRuntime();
  const body = typeof event.body === "string" ? parseJsonText(event.body) : event.body;
  return match.route.run(await useCases(), {
    params: match.params,
    query: event.queryStringParameters ?? {},
    body,
    baseUrl: publicBaseUrl(event, config.PUBLIC_BASE_URL),
  });
}

function bearerMatches(authorization: string | undefined, token: string): boolean {
  const given = authorization?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim() ?? "";
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return given.length > 0 && timingSafeEqual(digest(given), digest(token));
}

/**
 * Bodies sent without a JSON content type (curl -d) are still JSON to this API. Parsed depth-limited
 * and prototype-free: a hostile body is a 400, never a crash further on.
 */
function parseJsonText(body: string): unknown {
  if (body.trim() === "") return undefined;
  try {
    return parseUntrustedJson(body);
  } catch (error) {
    throw new ValidationError(`Body is not valid JSON: ${(error as Error).message}`);
  }
}

/** The Lambda handler around `route`: request id on every log line, JSON body parsing, errors mapped. */
export function adminHttpHandler(route: (event: HttpEvent) => Promise<HttpResult>, logger: Logger) {
  return withRequestId(
    middy<HttpEvent, HttpResult>()
      // GET and DELETE carry no body; what is there is decoded here and parsed in runAdminRoute.
      .use({
        before: (request) => {
          const { event } = request;
          if (event.body && event.isBase64Encoded) {
            event.body = rawBody(event).toString("utf8");
            event.isBase64Encoded = false;
          }
        },
      })
      .use({
        onError: (request) => {
          const error = request.error as { statusCode?: number; message?: string } | null;
          // The JSON parser's own errors (malformed JSON) are the client's fault: say so in our error shape.
          const mapped =
            error?.statusCode && error.statusCode < 500 && !(error instanceof AppError)
              ? new ValidationError(`Body is not valid JSON: ${error.message ?? ""}`.trim())
              : error;
          request.response = errorResponse(mapped, logger);
        },
      })
      .handler(async (event) => {
        try {
          return await route(event);
        } catch (error) {
          return errorResponse(error, logger);
        }
      }),
  );
}
