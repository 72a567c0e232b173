import { BitrixUserRestClient } from "#shared/adapters/bitrix-rest/user-rest.ts";
import { GraphClient } from "#shared/adapters/meta-graph/client.ts";
import { makeSafeFetch } from "#shared/adapters/safe-fetch.ts";
import { makeBitrixSide } from "#shared/bitrix-runtime.ts";
import { allowsLoopbackUrls } from "#shared/config.ts";
import { appSessionKey } from "#shared/domain/app-session.ts";
import { AppError, ValidationError } from "#shared/errors.ts";
import { type HttpEvent, type HttpResult, header, json, rawBody, text } from "#shared/http.ts";
import { makeLogger, withRequestId } from "#shared/logger.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { makeAppPage } from "#shared/use-cases/app-page.ts";
import { makeCallingSettings } from "#shared/use-cases/calling-settings.ts";
import { makeTemplateCatalog } from "#shared/use-cases/template-catalog.ts";
import { makeTemplatePicker } from "#shared/use-cases/template-picker.ts";
import { fieldErrorsOf, parseCallingForm } from "./calling-form.ts";
import { escapeHtml, page, REFUSED_PAGE } from "./html.ts";
import { errorText, type FieldErrors, numbersPage } from "./numbers-page.ts";
import { pickerPage } from "./picker-page.ts";

const logger = makeLogger("bitrix-app");

const useCases = lazy(async () => {
  const runtime = await getRuntime();
  const { config, store, bitrixStore, secrets, conversations } = runtime;
  const { installer, oauth } = makeBitrixSide(runtime, logger);
  const graph = new GraphClient({ baseUrl: config.GRAPH_API_BASE_URL, timeoutMs: config.HTTP_TIMEOUT_MS });
  const sessionKey = appSessionKey(secrets.encryptionKey);
  return {
    frameScriptUrl: config.BITRIX_FRAME_SCRIPT_URL,
    picker: makeTemplatePicker({
      bitrixStore,
      conversations,
      templates: makeTemplateCatalog({ store, cache: conversations, graph, clock: systemClock, logger }),
      installer,
      userRest: new BitrixUserRestClient(
        config.HTTP_TIMEOUT_MS,
        makeSafeFetch({ allowLoopback: allowsLoopbackUrls(config) }),
      ),
      sessionKey,
      clock: systemClock,
    }),
    app: makeAppPage({
      bitrixStore,
      wabas: store,
      accountEvents: runtime.accountEvents,
      installer,
      oauth,
      calling: makeCallingSettings({ store, bitrixStore, graph, clock: systemClock }),
      sessionKey,
      clock: systemClock,
    }),
  };
});

const html = (status: number, body: string): HttpResult => ({
  ...text(status, body, "text/html; charset=utf-8"),
  // The page holds a session: not to be cached, and framed only by Bitrix24 (which frames any origin).
  headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
});

const CALLING_PATH = /^\/api\/bitrix\/app\/phones\/([^/]+)\/calling\/?$/;

/**
 * The app's pages inside Bitrix24. `POST /api/bitrix/app/` is the app's handler path: Bitrix24 posts its
 * frame form (AUTH_ID, member_id, …) there when a user opens the app. The page's own forms post back to
 * `/api/bitrix/app/…` with the session the first answer issued.
 */
async function handle(event: HttpEvent): Promise<HttpResult> {
  const wantsJson = (header(event, "accept") ?? "").includes("application/json");
  try {
    const uc = await useCases();
    const form = new URLSearchParams(rawBody(event).toString("utf8"));
    const path = event.rawPath;
    if (/^\/api\/bitrix\/app\/?$/.test(path)) {
      const opened = await uc.app.open({
        memberId: form.get("member_id") ?? "",
        accessToken: form.get("AUTH_ID") ?? "",
      });
      const session = await uc.app.authorize(opened.session);
      const numbers = await uc.app.numbers(session);
      return html(200, numbersPage({ numbers, session: opened.session, frameScriptUrl: uc.frameScriptUrl }));
    }
    if (/^\/api\/bitrix\/app\/picker\/?$/.test(path)) {
      const accessToken = form.get("AUTH_ID") ?? "";
      const view = await uc.picker.open({
        memberId: form.get("member_id") ?? "",
        accessToken,
        dialogId: dialogIdOf(form.get("PLACEMENT_OPTIONS")),
      });
      return html(200, pickerPage({ view, accessToken, frameScriptUrl: uc.frameScriptUrl }));
    }
    if (/^\/api\/bitrix\/app\/picker\/send\/?$/.test(path)) {
      const session = uc.picker.authorize(form.get("session") ?? "");
      const accessToken = form.get("auth") ?? "";
      const request = {
        accessToken,
        dialogId: form.get("dialogId") ?? "",
        name: form.get("name") ?? "",
        language: form.get("language") ?? "",
        variables: Object.fromEntries(
          [...form].filter(([k]) => k.startsWith("var.")).map(([k, v]) => [k.slice(4), v.trim()]),
        ),
        fileLink: form.get("fileLink")?.trim() || undefined,
        buttonParam: form.get("buttonParam")?.trim() || undefined,
      };
      let outcome: { ok: boolean; message: string; template: string };
      const template = `${request.name}+${request.language}`;
      try {
        const { shortcode } = await uc.picker.send(session, request);
        outcome = { ok: true, message: `Sent to the chat as ${shortcode}`, template };
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        outcome = { ok: false, message: error.message, template };
      }
      if (wantsJson) return json(outcome.ok ? 200 : 400, outcome);
      const view = await uc.picker.open({
        memberId: session.memberId,
        accessToken,
        dialogId: request.dialogId,
      });
      return html(
        outcome.ok ? 200 : 400,
        pickerPage({ view, accessToken, frameScriptUrl: uc.frameScriptUrl, outcome }),
      );
    }
    const calling = path.match(CALLING_PATH);
    if (calling && event.requestContext.http.method === "POST") {
      const token = form.get("session") ?? "";
      const session = await uc.app.authorize(token);
      const phoneId = decodeURIComponent(calling[1] ?? "");
      const parsed = parseCallingForm(form);
      let fieldErrors: FieldErrors | undefined;
      let status = 400;
      let settings: Awaited<ReturnType<typeof uc.app.saveCalling>>["body"] | undefined;
      if ("body" in parsed) {
        try {
          const saved = await uc.app.saveCalling(session, phoneId, parsed.body);
          status = saved.status;
          settings = saved.body;
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          fieldErrors = fieldErrorsOf((error.details as never[] | undefined) ?? []);
        }
      } else {
        fieldErrors = parsed.fieldErrors;
      }
      if (wantsJson) {
        return json(status, {
          ...(settings ? { settings, errorText: errorText(settings) } : {}),
          ...(fieldErrors ? { fieldErrors } : {}),
        });
      }
      const numbers = await uc.app.numbers(session);
      return html(
        status === 502 ? 200 : status,
        numbersPage({
          numbers,
          session: token,
          frameScriptUrl: uc.frameScriptUrl,
          posted: { phoneId, fieldErrors, saved: settings !== undefined },
        }),
      );
    }
    return html(404, page("Not found", "<main><h1>Not found</h1></main>"));
  } catch (error) {
    const status = error instanceof AppError ? error.status : 500;
    if (status >= 500) logger.error("app page failed", { error });
    // The page's script shows `message` where the outcome goes: an expired session says to reopen.
    if (status === 401) {
      const message = "Not allowed: open the app again from Bitrix24.";
      return wantsJson ? json(401, { ok: false, message }) : html(401, REFUSED_PAGE);
    }
    const message =
      error instanceof AppError && status < 500 ? error.message : "Something went wrong; try again.";
    if (wantsJson) return json(status, { ok: false, message });
    return html(
      status,
      page(
        "WhatsApp numbers",
        `<main><h1>WhatsApp numbers</h1><p role="alert">${escapeHtml(message)}</p></main>`,
      ),
    );
  }
}

/** `PLACEMENT_OPTIONS` of IM_TEXTAREA: a JSON string `{"dialogId":"chat1","URI":"/online/"}`. */
function dialogIdOf(options: string | null): string {
  try {
    const parsed = JSON.parse(options ?? "{}") as { dialogId?: unknown };
    return typeof parsed.dialogId === "string" ? parsed.dialogId : "";
  } catch {
    return "";
  }
}

export const handler = withRequestId(handle);
