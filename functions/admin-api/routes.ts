import type { ZodType } from "zod";
import { NotFoundError, ValidationError } from "#shared/errors.ts";
import { type HttpResult, json, noContent, parseWith } from "#shared/http.ts";
import type { ConversationStore } from "#shared/ports/conversations.ts";
import type { Page } from "#shared/ports/store.ts";
import {
  accountEventQuery,
  accountEventView,
  appCreateBody,
  appPatchBody,
  appView,
  bitrixAppCreateBody,
  bitrixAppView,
  deadLetterRedriveBody,
  deadLetterRedriveResult,
  deadLetterView,
  historyBody,
  historyView,
  listQuery,
  phoneCreateBody,
  phonePatchBody,
  phoneView,
  portalView,
  templateList,
  templateListQuery,
  unroutedView,
  wabaCreateBody,
  wabaPatchBody,
  wabaView,
} from "#shared/schemas/admin.ts";
import { type makeDeadLetters, toDeadLetterView } from "#shared/use-cases/dead-letters.ts";
import type { makeHistorySwitch } from "#shared/use-cases/history-switch.ts";
import type { makeAccountEventQueries } from "#shared/use-cases/list-account-events.ts";
import { type makeManageApps, toAppView } from "#shared/use-cases/manage-apps.ts";
import { type makeManageBitrixApps, toBitrixAppView } from "#shared/use-cases/manage-bitrix-apps.ts";
import { type makeManagePhones, toPhoneView } from "#shared/use-cases/manage-phones.ts";
import { type makeManagePortals, toPortalView } from "#shared/use-cases/manage-portals.ts";
import { type makeManageWabas, toWabaView } from "#shared/use-cases/manage-wabas.ts";
import { type TemplateCatalog, templateListing } from "#shared/use-cases/template-catalog.ts";

export interface RouteContext {
  readonly params: Record<string, string>;
  readonly query: Record<string, string | undefined>;
  readonly body: unknown;
  readonly baseUrl: string;
}

export interface AdminUseCases {
  readonly apps: ReturnType<typeof makeManageApps>;
  readonly wabas: ReturnType<typeof makeManageWabas>;
  readonly bitrixApps: ReturnType<typeof makeManageBitrixApps>;
  readonly portals: ReturnType<typeof makeManagePortals>;
  readonly phones: ReturnType<typeof makeManagePhones>;
  readonly deadLetters: ReturnType<typeof makeDeadLetters>;
  readonly templates: TemplateCatalog;
  readonly unrouted: Pick<ConversationStore, "listUnrouted">;
  readonly accountEvents: ReturnType<typeof makeAccountEventQueries>;
  readonly history: ReturnType<typeof makeHistorySwitch>;
}

export interface AdminRoute<UseCases = AdminUseCases> {
  readonly method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  /** OpenAPI path template; `{name}` segments become `params`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly body?: ZodType;
  readonly response?: ZodType;
  readonly list?: boolean;
  readonly status: number;
  /** Other statuses answered with the same `response` body (documented in OpenAPI). */
  readonly alsoAnswers?: readonly { status: number; description: string }[];
  readonly run: (uc: UseCases, ctx: RouteContext) => Promise<HttpResult>;
}

const page = <T>(items: T[], nextCursor?: string) => ({ items, ...(nextCursor ? { nextCursor } : {}) });

/** A paged list: `?cursor=…&limit=…` in, `{items, nextCursor?}` out, each item shown through `view`. */
function listRoute<T>(def: {
  path: string;
  summary: string;
  tag: string;
  response: ZodType;
  list: (uc: AdminUseCases, cursor: string | undefined, limit: number) => Promise<Page<T>>;
  view: (item: T, ctx: RouteContext) => unknown;
}): AdminRoute {
  return {
    method: "GET",
    path: def.path,
    summary: def.summary,
    tag: def.tag,
    response: def.response,
    list: true,
    status: 200,
    run: async (uc, ctx) => {
      const q = parseWith(listQuery, ctx.query, "query");
      const got = await def.list(uc, q.cursor, q.limit);
      return json(
        200,
        page(
          got.items.map((item) => def.view(item, ctx)),
          got.nextCursor,
        ),
      );
    },
  };
}

export const adminRoutes: readonly AdminRoute[] = [
  {
    method: "POST",
    path: "/api/admin/apps",
    summary: "Register a Meta app",
    tag: "apps",
    body: appCreateBody,
    response: appView,
    status: 201,
    run: async (uc, ctx) =>
      json(201, toAppView(await uc.apps.create(parseWith(appCreateBody, ctx.body, "app")), ctx.baseUrl)),
  },
  listRoute({
    path: "/api/admin/apps",
    summary: "List Meta apps",
    tag: "apps",
    response: appView,
    list: (uc, cursor, limit) => uc.apps.list(cursor, limit),
    view: (a, ctx) => toAppView(a, ctx.baseUrl),
  }),
  {
    method: "GET",
    path: "/api/admin/apps/{appId}",
    summary: "Get a Meta app",
    tag: "apps",
    response: appView,
    status: 200,
    run: async (uc, ctx) => json(200, toAppView(await uc.apps.get(param(ctx, "appId")), ctx.baseUrl)),
  },
  {
    method: "PATCH",
    path: "/api/admin/apps/{appId}",
    summary: "Change a Meta app's name, secret, domains or Graph API version",
    tag: "apps",
    body: appPatchBody,
    response: appView,
    status: 200,
    run: async (uc, ctx) => {
      const patch = parseWith(appPatchBody, ctx.body, "app change");
      return json(200, toAppView(await uc.apps.update(param(ctx, "appId"), patch), ctx.baseUrl));
    },
  },
  {
    method: "DELETE",
    path: "/api/admin/apps/{appId}",
    summary: "Delete a Meta app no WABA uses",
    tag: "apps",
    status: 204,
    run: async (uc, ctx) => {
      await uc.apps.remove(param(ctx, "appId"));
      return noContent();
    },
  },
  {
    method: "POST",
    path: "/api/admin/wabas",
    summary: "Add a WhatsApp Business Account and subscribe its app to it",
    tag: "wabas",
    body: wabaCreateBody,
    response: wabaView,
    status: 201,
    run: async (uc, ctx) => {
      const { waba, app } = await uc.wabas.create(parseWith(wabaCreateBody, ctx.body, "WABA"));
      return json(201, toWabaView(waba, app));
    },
  },
  listRoute({
    path: "/api/admin/wabas",
    summary: "List WhatsApp Business Accounts",
    tag: "wabas",
    response: wabaView,
    list: (uc, cursor, limit) => uc.wabas.list(cursor, limit),
    view: (i) => toWabaView(i.waba, i.app),
  }),
  {
    method: "GET",
    path: "/api/admin/wabas/{wabaId}",
    summary: "Get a WhatsApp Business Account",
    tag: "wabas",
    response: wabaView,
    status: 200,
    run: async (uc, ctx) => {
      const { waba, app } = await uc.wabas.get(param(ctx, "wabaId"));
      const accountState = await uc.accountEvents.stateOf("waba", waba.wabaId);
      return json(200, { ...toWabaView(waba, app), accountState });
    },
  },
  {
    method: "PATCH",
    path: "/api/admin/wabas/{wabaId}",
    summary: "Change a WABA; a new access token or app re-subscribes",
    tag: "wabas",
    body: wabaPatchBody,
    response: wabaView,
    status: 200,
    run: async (uc, ctx) => {
      const patch = parseWith(wabaPatchBody, ctx.body, "WABA change");
      const { waba, app } = await uc.wabas.update(param(ctx, "wabaId"), patch);
      return json(200, toWabaView(waba, app));
    },
  },
  {
    method: "DELETE",
    path: "/api/admin/wabas/{wabaId}",
    summary: "Delete a WABA",
    tag: "wabas",
    status: 204,
    run: async (uc, ctx) => {
      await uc.wabas.remove(param(ctx, "wabaId"));
      return noContent();
    },
  },
  {
    method: "POST",
    path: "/api/admin/bitrix-apps",
    summary: "Register a Bitrix24 app (OAuth client) before installing it on portals",
    tag: "bitrix",
    body: bitrixAppCreateBody,
    response: bitrixAppView,
    status: 201,
    run: async (uc, ctx) =>
      json(
        201,
        toBitrixAppView(
          await uc.bitrixApps.create(parseWith(bitrixAppCreateBody, ctx.body, "Bitrix24 app")),
          ctx.baseUrl,
        ),
      ),
  },
  listRoute({
    path: "/api/admin/bitrix-apps",
    summary: "List Bitrix24 apps",
    tag: "bitrix",
    response: bitrixAppView,
    list: (uc, cursor, limit) => uc.bitrixApps.list(cursor, limit),
    view: (a, ctx) => toBitrixAppView(a, ctx.baseUrl),
  }),
  {
    method: "GET",
    path: "/api/admin/bitrix-apps/{clientId}",
    summary: "Get a Bitrix24 app with the URLs and scopes to paste into Bitrix24",
    tag: "bitrix",
    response: bitrixAppView,
    status: 200,
    run: async (uc, ctx) =>
      json(200, toBitrixAppView(await uc.bitrixApps.get(param(ctx, "clientId")), ctx.baseUrl)),
  },
  {
    method: "DELETE",
    path: "/api/admin/bitrix-apps/{clientId}",
    summary: "Delete a Bitrix24 app",
    tag: "bitrix",
    status: 204,
    run: async (uc, ctx) => {
      await uc.bitrixApps.remove(param(ctx, "clientId"));
      return noContent();
    },
  },
  listRoute({
    path: "/api/admin/portals",
    summary: "List Bitrix24 portals where the app is installed",
    tag: "bitrix",
    response: portalView,
    list: (uc, cursor, limit) => uc.portals.list(cursor, limit),
    view: toPortalView,
  }),
  {
    method: "GET",
    path: "/api/admin/portals/{memberId}",
    summary: "Get a Bitrix24 portal",
    tag: "bitrix",
    response: portalView,
    status: 200,
    run: async (uc, ctx) => json(200, toPortalView(await uc.portals.get(param(ctx, "memberId")))),
  },
  {
    method: "DELETE",
    path: "/api/admin/portals/{memberId}",
    summary: "Forget a portal (its phones must be deleted or moved first)",
    tag: "bitrix",
    status: 204,
    run: async (uc, ctx) => {
      await uc.portals.remove(param(ctx, "memberId"));
      return noContent();
    },
  },
  {
    method: "POST",
    path: "/api/admin/phones",
    summary: "Add a WhatsApp number and connect it to its portal's open line",
    tag: "phones",
    body: phoneCreateBody,
    response: phoneView,
    status: 201,
    run: async (uc, ctx) =>
      json(201, toPhoneView(await uc.phones.create(parseWith(phoneCreateBody, ctx.body, "phone")))),
  },
  listRoute({
    path: "/api/admin/phones",
    summary: "List WhatsApp numbers",
    tag: "phones",
    response: phoneView,
    list: (uc, cursor, limit) => uc.phones.list(cursor, limit),
    view: toPhoneView,
  }),
  {
    method: "GET",
    path: "/api/admin/phones/{phoneId}",
    summary: "Get a WhatsApp number with its line, connector and SMS sender",
    tag: "phones",
    response: phoneView,
    status: 200,
    run: async (uc, ctx) => {
      const phone = await uc.phones.get(param(ctx, "phoneId"));
      const accountState = await uc.accountEvents.stateOf("phone", phone.phoneId);
      return json(200, { ...toPhoneView(phone), accountState });
    },
  },
  {
    method: "PATCH",
    path: "/api/admin/phones/{phoneId}",
    summary: "Change a number (portal, WABA, Sms service); any PATCH reconnects it",
    tag: "phones",
    body: phonePatchBody,
    response: phoneView,
    status: 200,
    run: async (uc, ctx) => {
      const patch = parseWith(phonePatchBody, ctx.body ?? {}, "phone change");
      return json(200, toPhoneView(await uc.phones.update(param(ctx, "phoneId"), patch)));
    },
  },
  {
    method: "DELETE",
    path: "/api/admin/phones/{phoneId}",
    summary: "Delete a number; its line is deactivated and its SMS sender removed",
    tag: "phones",
    status: 204,
    run: async (uc, ctx) => {
      await uc.phones.remove(param(ctx, "phoneId"));
      return noContent();
    },
  },
  {
    method: "GET",
    path: "/api/admin/events",
    summary:
      "Account, quality, template-status and marketing-preference events Meta sent, newest first " +
      "(?wabaId=, ?phoneId=, ?type=)",
    tag: "events",
    response: accountEventView,
    list: true,
    status: 200,
    run: async (uc, ctx) => {
      const q = parseWith(accountEventQuery, ctx.query, "query");
      const got = await uc.accountEvents.list(
        { wabaId: q.wabaId, phoneId: q.phoneId, type: q.type },
        q.cursor,
        q.limit,
      );
      return json(200, page(got.items, got.nextCursor));
    },
  },
  listRoute({
    path: "/api/admin/dead-letters",
    summary: "List what could not be delivered, newest first (the dead-letter queues are drained into it)",
    tag: "dead-letters",
    response: deadLetterView,
    list: (uc, cursor, limit) => uc.deadLetters.list(cursor, limit),
    view: toDeadLetterView,
  }),
  listRoute({
    path: "/api/admin/unrouted",
    summary:
      "Phone numbers Meta sends webhooks for that no phone is configured for, with how many events came (acknowledged, not delivered)",
    tag: "dead-letters",
    response: unroutedView,
    list: (uc, cursor, limit) => uc.unrouted.listUnrouted(cursor, limit),
    view: (item) => item,
  }),
  {
    method: "POST",
    path: "/api/admin/dead-letters/redrive",
    summary: "Send dead letters (all when ids is omitted) back to their queues",
    tag: "dead-letters",
    body: deadLetterRedriveBody,
    response: deadLetterRedriveResult,
    status: 200,
    run: async (uc, ctx) => {
      const { ids } = parseWith(deadLetterRedriveBody, ctx.body ?? {}, "redrive request");
      return json(200, await uc.deadLetters.redrive(ids));
    },
  },
  {
    method: "DELETE",
    path: "/api/admin/dead-letters/{id}",
    summary:
      "Forget a dead letter that will never go (its conversation is held no longer by it; redrive the ones that waited behind it)",
    tag: "dead-letters",
    status: 204,
    run: async (uc, ctx) => {
      await uc.deadLetters.discard(param(ctx, "id"));
      return noContent();
    },
  },
  {
    method: "GET",
    path: "/api/admin/wabas/{wabaId}/templates",
    summary:
      "List a WABA's message templates with the shortcode that sends each: all statuses, APPROVED first " +
      "(?status=APPROVED for one status only); cached up to an hour, ?refresh=true reads Meta now",
    tag: "wabas",
    response: templateList,
    status: 200,
    run: async (uc, ctx) => {
      const q = parseWith(templateListQuery, ctx.query, "query");
      const templates = await uc.templates.templates(param(ctx, "wabaId"), { refresh: q.refresh });
      return json(200, { items: templateListing(templates, q.status) });
    },
  },
  {
    method: "GET",
    path: "/api/admin/phones/{phoneId}/history",
    summary: "Whether the number imports its WhatsApp Business app history (coexistence), and how far",
    tag: "phones",
    response: historyView,
    status: 200,
    run: async (uc, ctx) => json(200, await uc.history.get(param(ctx, "phoneId"))),
  },
  {
    method: "PUT",
    path: "/api/admin/phones/{phoneId}/history",
    summary:
      "Switch the import of the number's WhatsApp Business app history on or off, with a budget of messages; " +
      "what is already in the open line is not imported twice",
    tag: "phones",
    body: historyBody,
    response: historyView,
    status: 200,
    run: async (uc, ctx) => {
      const body = parseWith(historyBody, ctx.body, "history switch");
      return json(200, await uc.history.put(param(ctx, "phoneId"), body));
    },
  },
];

/** Longer than any id Meta or Bitrix24 hands out (and far below DynamoDB's key limit). */
const MAX_ID_LENGTH = 256;

export function param(ctx: RouteContext, name: string): string {
  const value = ctx.params[name];
  if (!value) throw new NotFoundError(`Missing ${name}`);
  if (value.length > MAX_ID_LENGTH) throw new ValidationError(`${name} is longer than ${MAX_ID_LENGTH}`);
  return value;
}

/** Finds the route for a method and path; `params` holds the decoded `{name}` segments. */
export function matchRoute<UseCases = AdminUseCases>(
  method: string,
  path: string,
  routes: readonly AdminRoute<UseCases>[] = adminRoutes as never,
): { route: AdminRoute<UseCases>; params: Record<string, string> } | "method-not-allowed" | undefined {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  let pathMatched = false;
  for (const route of routes) {
    const params = matchPath(route.path, trimmed);
    if (!params) continue;
    pathMatched = true;
    if (route.method === method) return { route, params };
  }
  return pathMatched ? "method-not-allowed" : undefined;
}

function matchPath(template: string, path: string): Record<string, string> | undefined {
  const want = template.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] ?? "";
    const g = got[i] ?? "";
    if (w.startsWith("{") && w.endsWith("}")) {
      if (!g) return undefined;
      try {
        params[w.slice(1, -1)] = decodeURIComponent(g);
      } catch {
        return undefined; // a malformed escape names no resource: 404, not a crash
      }
    } else if (w !== g) return undefined;
  }
  return params;
}
