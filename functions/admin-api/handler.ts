import { GraphClient } from "#shared/adapters/meta-graph/client.ts";
import { makeSqsClient } from "#shared/adapters/sqs/fifo-queue.ts";
import { makeBitrixSide } from "#shared/bitrix-runtime.ts";
import { type HttpEvent, type HttpResult, json, publicBaseUrl } from "#shared/http.ts";
import { makeLogger } from "#shared/logger.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { queues } from "#shared/resources.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { type DeadLetterQueue, makeDeadLetters } from "#shared/use-cases/dead-letters.ts";
import { makeHistorySwitch } from "#shared/use-cases/history-switch.ts";
import { makeAccountEventQueries } from "#shared/use-cases/list-account-events.ts";
import { makeManageApps } from "#shared/use-cases/manage-apps.ts";
import { makeManageBitrixApps } from "#shared/use-cases/manage-bitrix-apps.ts";
import { makeManagePhones } from "#shared/use-cases/manage-phones.ts";
import { makeManagePortals } from "#shared/use-cases/manage-portals.ts";
import { makeManageWabas } from "#shared/use-cases/manage-wabas.ts";
import { makeTemplateCatalog } from "#shared/use-cases/template-catalog.ts";
import { callingRoutes } from "../calling-api/routes.ts";
import { buildOpenApiDocument } from "./openapi.ts";
import { type AdminUseCases, adminRoutes } from "./routes.ts";
import { adminHttpHandler, runAdminRoute } from "./serve.ts";

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
    unrouted: conversations,
    accountEvents: makeAccountEventQueries({ accountEvents: runtime.accountEvents }),
    history: makeHistorySwitch({ history: runtime.history, bitrixStore, clock: systemClock }),
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
  const { config, store } = await getRuntime();

  if (path === "/api/health") {
    await store.ping();
    return json(200, { status: "ok" });
  }
  if (path === "/api/admin/openapi.json" && method === "GET") {
    const baseUrl = publicBaseUrl(event, config.PUBLIC_BASE_URL);
    // The calling routes are served by their own function, and documented here with the rest.
    return json(200, buildOpenApiDocument([...adminRoutes, ...callingRoutes], baseUrl));
  }
  return runAdminRoute(event, adminRoutes, useCases);
}

export const handler = adminHttpHandler(route, logger);
