import { makeSqsClient, SqsFifoQueue } from "#shared/adapters/sqs/fifo-queue.ts";
import { makeBitrixSide } from "#shared/bitrix-runtime.ts";
import { formString, parseBitrixForm } from "#shared/domain/bitrix-connector.ts";
import { type OutboundJob, outboundGroupOf } from "#shared/domain/outbound-job.ts";
import { AppError, ValidationError } from "#shared/errors.ts";
import {
  errorResponse,
  type HttpEvent,
  type HttpResult,
  json,
  publicBaseUrl,
  rawBody,
  text,
} from "#shared/http.ts";
import { makeLogger, withRequestId } from "#shared/logger.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { grantFromAuth, grantFromSystemUser, type PortalGrant } from "#shared/use-cases/install-portal.ts";
import { makeHandlePortalEvent } from "#shared/use-cases/portal-events.ts";
import { installFailedPage, installFinishedPage, openAppPage, settingsPage } from "./pages.ts";

const logger = makeLogger("bitrix-events");

const useCases = lazy(async () => {
  const runtime = await getRuntime();
  const side = makeBitrixSide(runtime, logger);
  return {
    ...side,
    runtime,
    handleEvent: makeHandlePortalEvent({
      store: runtime.bitrixStore,
      installer: side.installer,
      outbound: outboundQueue(runtime.config.OUTBOUND_QUEUE_URL),
      clock: systemClock,
      logger,
    }),
  };
});

/** Operators' messages onto the outbound FIFO queue: one group per chat, deduplicated per Bitrix24 message. */
function outboundQueue(url: string | undefined) {
  const fifo = url ? new SqsFifoQueue(makeSqsClient(), url) : undefined;
  return {
    enqueue: async (jobs: readonly OutboundJob[]) => {
      if (!fifo) throw new Error("OUTBOUND_QUEUE_URL is not set");
      await fifo.enqueue(jobs.map((job) => ({ body: job, groupId: outboundGroupOf(job), dedupKey: job.id })));
    },
  };
}

/**
 * `POST /api/bitrix/`: everything Bitrix24 sends the app — the install page POST (answered with a page
 * that calls BX24.installFinish()), the ONAPPINSTALL event of "API only" apps, the connector settings
 * placement, and the events we bound (authenticated by application token and handler secret).
 */
async function handle(event: HttpEvent): Promise<HttpResult> {
  const query = event.queryStringParameters ?? {};
  const isPage = () => Boolean(form && (form.AUTH_ID || form.PLACEMENT));
  let form: Record<string, unknown> | undefined;
  try {
    form = parseBitrixForm(rawBody(event).toString("utf8"));
    const uc = await useCases();
    const baseUrl = publicBaseUrl(event, uc.runtime.config.PUBLIC_BASE_URL);
    const eventName = formString(form.event).toUpperCase();
    const auth = (form.auth ?? {}) as Record<string, unknown>;

    if (eventName === "ONAPPINSTALL") {
      const portal = await uc.installer.installFromEvent(requireGrant(grantFromAuth(auth, baseUrl)));
      return json(200, { result: "installed", memberId: portal.memberId, setupError: portal.setupError });
    }
    if (eventName === "ONAPPUSERREADY") {
      // Sent by Bitrix24 itself to the install URL (no event.bind): `data` holds the system user's tokens.
      const data = (form.data ?? {}) as Record<string, unknown>;
      const portal = await uc.installer.systemUserReady(
        grantFromAuth(auth, baseUrl),
        requireGrant(grantFromSystemUser(data, baseUrl)),
      );
      return json(200, { result: "system-user", memberId: portal.memberId });
    }
    if (form.PLACEMENT === "SETTING_CONNECTOR" || query.view === "settings") {
      // Awaited here, so a refusal is answered by the catch below (401), not as a rejected promise.
      return await settingsPage(uc.runtime.bitrixStore, form, query.h);
    }
    if (form.AUTH_ID) {
      // Every user who opens the app posts here with their own token (when the app's handler path is still
      // this URL): an installed portal stays as it is, and the user goes on to the app's page.
      const installed = await uc.runtime.bitrixStore.getPortal(formString(form.member_id));
      if (installed?.status === "installed") return text(200, openAppPage(form), "text/html; charset=utf-8");
      const portal = await uc.installer.install(grantFromPage(form, query, baseUrl));
      return text(200, installFinishedPage(portal), "text/html; charset=utf-8");
    }
    if (!eventName) throw new ValidationError("Not a Bitrix24 event, install or placement request");
    const outcome = await uc.handleEvent({
      event: eventName,
      data: form.data,
      auth,
      handlerSecret: query.h,
      baseUrl,
      ts: formString(form.ts),
    });
    return json(200, { result: outcome.handled });
  } catch (error) {
    if (isPage() && form?.AUTH_ID && form.PLACEMENT !== "SETTING_CONNECTOR") {
      const status = error instanceof AppError ? error.status : 500;
      if (status >= 500) logger.error("install failed", { error });
      return text(
        status,
        installFailedPage(error instanceof AppError ? error.message : "Internal error"),
        "text/html; charset=utf-8",
      );
    }
    return errorResponse(error, logger);
  }
}

/**
 * The install page gets the tokens in the body and `DOMAIN` in the query (the portal's address comes
 * from the OAuth server). `SERVER_ENDPOINT` and `APPLICATION_TOKEN` come on some portals only: without
 * the first every trusted OAuth server is asked, the second arrives with ONAPPINSTALL.
 */
function grantFromPage(
  form: Record<string, unknown>,
  query: Record<string, string | undefined>,
  baseUrl: string,
): PortalGrant {
  return requireGrant({
    memberId: formString(form.member_id),
    serverEndpoint: formString(form.SERVER_ENDPOINT) || undefined,
    accessToken: formString(form.AUTH_ID),
    refreshToken: formString(form.REFRESH_ID),
    applicationToken: formString(form.APPLICATION_TOKEN) || undefined,
    domain: (query.DOMAIN ?? formString(form.DOMAIN)) || undefined,
    expiresIn: Number(formString(form.AUTH_EXPIRES)) || undefined,
    baseUrl,
  });
}

function requireGrant(grant: PortalGrant): PortalGrant {
  const missing = (["memberId", "accessToken", "refreshToken"] as const).filter((k) => !grant[k]);
  if (missing.length) throw new ValidationError(`Install request without ${missing.join(", ")}`);
  return grant;
}

export const handler = withRequestId(handle);
