import { json, parseWith } from "#shared/http.ts";
import { callingSettingsBody, callingSettingsView } from "#shared/schemas/admin.ts";
import type { makeCallingSettings } from "#shared/use-cases/calling-settings.ts";
import { type AdminRoute, param } from "../admin-api/routes.ts";

export interface CallingUseCases {
  readonly calling: ReturnType<typeof makeCallingSettings>;
}

/**
 * The admin API's calling routes, served by their own function; the admin API's OpenAPI document lists
 * them with the rest. Whatever else calling-specific the API grows belongs here.
 */
export const callingRoutes: readonly AdminRoute<CallingUseCases>[] = [
  {
    method: "GET",
    path: "/api/admin/phones/{phoneId}/calling",
    summary: "Get a number's calling and SIP trunk settings, with Meta's error if it refused them",
    tag: "phones",
    response: callingSettingsView,
    status: 200,
    run: async (uc, ctx) => json(200, await uc.calling.get(param(ctx, "phoneId"))),
  },
  {
    method: "PUT",
    path: "/api/admin/phones/{phoneId}/calling",
    summary:
      "Set a number's calling and SIP trunk (TLS, port 5061 by default) and apply them to Meta; " +
      "disabling SIP keeps the server so Meta keeps the SIP password",
    tag: "phones",
    body: callingSettingsBody,
    response: callingSettingsView,
    status: 200,
    alsoAnswers: [
      { status: 502, description: "Meta refused the settings (stored anyway); Meta's code in error" },
    ],
    run: async (uc, ctx) => {
      const body = parseWith(callingSettingsBody, ctx.body, "calling settings");
      const result = await uc.calling.put(param(ctx, "phoneId"), body);
      return json(result.status, result.body);
    },
  },
];
