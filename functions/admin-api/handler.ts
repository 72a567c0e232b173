import { createHash, timingSafeEqual } from "node:crypto";
import middy from "@middy/core";
import httpJsonBodyParser from "@middy/http-json-body-parser";
import { GraphClient } from "#shared/adapters/meta-graph/client.ts";
import { makeSqsClient } from "#shared/adapters/sqs/fifo-queue.ts";
import { makeBitrixSide } from "#shared/bitrix-runtime.ts";
import { AppError, NotFoundError, UnauthorizedError, ValidationError } from "#shared/errors.ts";
import { errorResponse, type HttpEvent, type HttpResult, header, json, publicBaseUrl } from "#shared/http.ts";
import { makeLogger } from "#shared/logger.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { queues } from "#shared/resources.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { makeCallingSettings } from "#shared/use-cases/calling-settings.ts";
import { type DeadLetterQueue, makeDeadLetters } from "#shared/use-cases/dead-letters.ts";
import { makeManageApps } from "#shared/use-cases/manage-apps.ts";
import { makeManageBitrixApps } from "#shared/use-cases/manage-bitrix-apps.ts";
import { makeManagePhones } from "#shared/use-cases/manage-phones.ts";
import { makeManagePortals } from "#shared/use-cases/manage-portals.ts";
import { makeManageWabas } from "#shared/use-cases/manage-wabas.ts";
import { makeTemplateCatalog } from "#shared/use-cases/template-catalog.ts";
import { buildOpenApiDocument } from "./openapi.ts";
import { type AdminUseCases, adminRoutes, matchRoute } from "./routes.ts";

const logger = makeLogger("admin-api");

const useCases = lazy(async (): Promise<AdminUseCases> => {
  const runtime = await getRuntime();
  const { config, store, bitrixStore, deadLetters, conversations } = runtime;
  const { connector } = makeBitrixSide(runtime, logger);
  const graph = new GraphClient({ baseUrl: config.GRAPH_API_BASE_URL, timeoutMs: config.HTTP_TIMEOUT_MS });
  return {
    apps: makeManageApps({ store, clock: systemClock }),
    wabas: makeManageWabas({ store, graph, clock: systemClock }),
    bitrixApps: makeManageBitrixApps({ store: bitrixStore, clock: systemClock }),
    portals: makeManagePortals({ store: bitrixStore }),
    phones: makeManagePhones({ store: bitrixStore, wabas: store, connector, clock: systemClock }),
    deadLetters: makeDeadLetters({
      store: deadLetters,
      sqs: makeSqsClient(),
      queues: deadLetterQueues(),
      clock: systemClock,
    }),
    templates: makeTemplateCatalog({ store, cache: conversations, graph, clock: systemClock, logger }),
    calling: makeCallingSettings({ store, bitrixStore, graph, clock: systemClock }),
    unrouted: conversations,
  };
});

/** The queues and their dead-letter queues, from the variables the stack sets (shared/resources.ts). */
function deadLetterQueues(): DeadLetterQueue[] {
  return queues.flatMap((def) => {
    const url = process.env[def.urlEnv];
    const dlqUrl = process.env[def.dlqUrlEnv];
    if (url && dlqUrl) return [{ name: def.name, url, dlqUrl }];
    logger.warn("queue left out of dead-letter management: its URLs are not set", {
      queue: def.name,
      missing: [url ? undefined : def.urlEnv, dlqUrl ? undefined : def.dlqUrlEnv].filter(Boolean),
    });
    return [];
  });
}

/** Admin API, its OpenAPI document and the health check: adapt, authenticate, route, map errors. */
async function route(event: HttpEvent): Promise<HttpResult> {
  const method = event.requestContext.http.method;
  const path = event.rawPath;
  const { config, store, secrets } = await getRuntime();
  const baseUrl = publicBaseUrl(event, config.PUBLIC_BASE_URL);

  if (path === "/api/health") {
    await store.ping();
    return json(200, { status: "ok" });
  }
  if (path === "/api/admin/openapi.json" && method === "GET") {
    return json(200, buildOpenApiDocument(adminRoutes, baseUrl));
  }
  if (!bearerMatches(header(event, "authorization"), secrets.adminToken)) throw new UnauthorizedError();

  const match = matchRoute(method, path);
  if (!match) throw new NotFoundError(`No route ${method} ${path}`);
  if (match === "method-not-allowed")
    throw new AppError("method_not_allowed", 405, `${method} is not allowed on ${path}`);
  const body = typeof event.body === "string" ? parseJsonText(event.body) : event.body;
  return match.route.run(await useCases(), {
    params: match.params,
    query: event.queryStringParameters ?? {},
    body,
    baseUrl,
  });
}

function bearerMatches(authorization: string | undefined, token: string): boolean {
  const given = authorization?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim() ?? "";
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return given.length > 0 && timingSafeEqual(digest(given), digest(token));
}

/** Bodies sent without a JSON content type (curl -d) are still JSON to this API. */
function parseJsonText(body: string): unknown {
  if (body.trim() === "") return undefined;
  try {
    return JSON.parse(body);
  } catch {
    throw new ValidationError("Body is not valid JSON");
  }
}

const jsonBodyParser = httpJsonBodyParser({ disableContentTypeError: true });

export const handler = middy<HttpEvent, HttpResult>()
  // GET and DELETE carry no body; only parse what is there (the parser rejects an empty JSON body).
  .use({ before: (request) => (request.event.body ? jsonBodyParser.before?.(request) : undefined) })
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
  });
