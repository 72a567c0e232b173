import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { UnauthorizedError } from "#shared/errors.ts";
import { type HttpResult, text } from "#shared/http.ts";
import type { BitrixStore, PortalRecord } from "#shared/ports/bitrix-store.ts";
import { sameSecret } from "#shared/use-cases/install-portal.ts";

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

const page = (title: string, body: string, script = "") => `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<script src="//api.bitrix24.com/api/v1/"></script></head>
<body style="font-family:sans-serif;margin:2em">${body}${script}</body></html>`;

/** Install is complete only once the page calls BX24.installFinish(); until then Bitrix24 sends no events. */
export function installFinishedPage(portal: PortalRecord): string {
  const note = portal.setupError
    ? `<p>Installed, but set-up is incomplete: ${escapeHtml(portal.setupError)}. Reinstall or update the app to retry.</p>`
    : "<p>Installed. Add WhatsApp numbers with the admin API (<code>POST /api/admin/phones</code>).</p>";
  return page(
    "separator-waba installed",
    `<h1>WhatsApp for Bitrix24</h1>${note}`,
    "<script>BX24.init(function(){BX24.installFinish();});</script>",
  );
}

/** The frame fields the app's page reads; the refresh token is not among them and stays off the page. */
const APP_PAGE_FIELDS = ["member_id", "AUTH_ID", "PLACEMENT", "PLACEMENT_OPTIONS"] as const;

/**
 * A user opening an app whose handler path is still this URL (it moved to `/api/bitrix/app/`): the frame
 * is posted on to the app's page with its own fields. Bitrix24 shows this URL instead of the handler path
 * until BX24.installFinish() ran, so the page still finishes the install first where BX24 is loaded.
 */
export function openAppPage(form: Record<string, unknown>): string {
  const inputs = APP_PAGE_FIELDS.filter((name) => typeof form[name] === "string")
    .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(form[name] as string)}">`)
    .join("");
  return page(
    "WhatsApp for Bitrix24",
    `<h1>WhatsApp for Bitrix24</h1><form id="open-app" method="post" action="/api/bitrix/app/">${inputs}<button type="submit">Open the WhatsApp numbers</button></form>`,
    `<script>(function(){var gone=false,go=function(){if(!gone){gone=true;document.getElementById("open-app").submit()}};
if(window.BX24&&BX24.init){BX24.init(function(){try{BX24.installFinish()}finally{go()}});setTimeout(go,3000)}else go()})();</script>`,
  );
}

export function installFailedPage(message: string): string {
  return page("separator-waba install failed", `<h1>Install failed</h1><p>${escapeHtml(message)}</p>`);
}

/** The connector settings placement: tells the Bitrix24 admin which WhatsApp number the line carries. */
export async function settingsPage(
  store: BitrixStore,
  form: Record<string, unknown>,
  secret: string | undefined,
): Promise<HttpResult> {
  const memberId = typeof form.member_id === "string" ? form.member_id : "";
  const portal = memberId ? await store.getPortal(memberId) : undefined;
  const token = typeof form.APPLICATION_TOKEN === "string" ? form.APPLICATION_TOKEN : "";
  const secretOk = secret !== undefined && portal !== undefined && sameSecret(secret, portal.handlerSecret);
  const tokenOk = portal !== undefined && token !== "" && sameSecret(token, portal.applicationToken);
  if (!portal || !(secretOk || tokenOk))
    throw new UnauthorizedError("Unknown portal or wrong application token");
  let options: { LINE?: string | number; CONNECTOR?: string } = {};
  try {
    options = JSON.parse(typeof form.PLACEMENT_OPTIONS === "string" ? form.PLACEMENT_OPTIONS : "{}");
  } catch {
    options = {};
  }
  const line = Number(options.LINE);
  const phone = Number.isFinite(line) ? await store.findPhoneByLine(portal.memberId, line) : undefined;
  const body = phone
    ? `<p>Open line ${line} carries WhatsApp number <b>${escapeHtml(phone.phone)}</b> (connector ${escapeHtml(CONNECTOR_ID)}): ${escapeHtml(phone.connector.status)}${phone.connector.error ? ` — ${escapeHtml(phone.connector.error)}` : ""}.</p>`
    : `<p>No WhatsApp number is connected to this open line. Numbers are connected with the admin API (<code>POST /api/admin/phones</code>); each gets its own line named after the number.</p>`;
  return text(
    200,
    page("WhatsApp connector", `<h1>WhatsApp (separator)</h1>${body}`),
    "text/html; charset=utf-8",
  );
}
