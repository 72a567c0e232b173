import { GraphClient } from "#shared/adapters/meta-graph/client.ts";
import type { HttpEvent, HttpResult } from "#shared/http.ts";
import { makeLogger } from "#shared/logger.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { makeCallingSettings } from "#shared/use-cases/calling-settings.ts";
import { adminHttpHandler, runAdminRoute } from "../admin-api/serve.ts";
import { type CallingUseCases, callingRoutes } from "./routes.ts";

const logger = makeLogger("calling-api");

const useCases = lazy(async (): Promise<CallingUseCases> => {
  const { config, store, bitrixStore } = await getRuntime();
  const graph = new GraphClient({ baseUrl: config.GRAPH_API_BASE_URL, timeoutMs: config.HTTP_TIMEOUT_MS });
  return { calling: makeCallingSettings({ store, bitrixStore, graph, clock: systemClock }) };
});

/** `GET|PUT /api/admin/phones/{phoneId}/calling`: a number's calling and SIP settings, applied to Meta. */
function route(event: HttpEvent): Promise<HttpResult> {
  return runAdminRoute(event, callingRoutes, useCases);
}

export const handler = adminHttpHandler(route, logger);
