import type { CallingSettingsView } from "#shared/schemas/admin.ts";
import type { NumberView } from "#shared/use-cases/app-page.ts";
import { escapeHtml as e, page } from "./html.ts";

/** Meta's calling troubleshooting page: what each calling error code means and what to do. */
export const CALLING_TROUBLESHOOTING_URL =
  "https://developers.facebook.com/docs/whatsapp/cloud-api/calling/troubleshooting";

/** Problems with what was typed, by form field: each names the field and the fix. */
export type FieldErrors = Partial<Record<"calling" | "sip" | "host" | "port", string>>;

export interface NumbersPageInput {
  readonly numbers: readonly NumberView[];
  readonly session: string;
  readonly frameScriptUrl: string;
  /** The number whose form was just posted (no-script save), with its outcome. */
  readonly posted?: { phoneId: string; fieldErrors?: FieldErrors; saved?: boolean };
}

export function errorText({ error, updatedAt }: CallingSettingsView): string {
  if (!error) return updatedAt ? "None: Meta applied the settings." : "None: not set from here yet.";
  const code = error.code === null ? "Meta could not be reached" : `Meta error ${error.code}`;
  return `${code}: ${error.message}${error.details ? ` — ${error.details}` : ""}`;
}

function connectorText(n: NumberView): string {
  const status = `<span class="${n.connector.status === "error" ? "status-error" : ""}">${e(n.connector.status)}</span>`;
  return n.connector.error ? `${status} — Bitrix24: ${e(n.connector.error)}` : status;
}

function smsText(n: NumberView): string {
  if (!n.smsService) return "off";
  if (!n.smsSender) return "on, sender not registered yet";
  const error = n.smsSender.error ? ` — ${e(n.smsSender.error)}` : "";
  return `on, sender <code>${e(n.smsSender.code)}</code> (${e(n.smsSender.status)}${error})`;
}

const reportText = (s: NumberView["account"]) =>
  s
    ? `${e(s.event)}${s.detail ? ` (${e(s.detail)})` : ""} <span class="hint">${e(s.at.slice(0, 10))}</span>`
    : "";

function accountText(n: NumberView): string {
  const token =
    n.wabaTokenStatus === "invalid"
      ? `<span class="status-error">WABA token refused by Meta: replace it</span>`
      : n.wabaTokenStatus === "valid"
        ? "WABA token valid"
        : "";
  const parts = [token, n.account ? `Meta: ${reportText(n.account)}` : ""].filter(Boolean);
  return parts.length ? parts.join(" · ") : "no report from Meta yet";
}

function fieldError(id: string, message: string | undefined): string {
  return `<span class="field-error" id="${id}" data-error-for="${id}">${message ? e(message) : ""}</span>`;
}

function callingForm(n: NumberView, session: string, posted: NumbersPageInput["posted"]): string {
  const id = e(n.phoneId);
  const c = n.calling;
  const errors = posted?.phoneId === n.phoneId ? (posted.fieldErrors ?? {}) : {};
  const described = (field: keyof FieldErrors) =>
    `aria-describedby="err-${field}-${id}"${errors[field] ? ' aria-invalid="true"' : ""}`;
  return `<form method="post" action="/api/bitrix/app/phones/${encodeURIComponent(n.phoneId)}/calling" data-calling-form>
<input type="hidden" name="session" value="${e(session)}">
<fieldset><legend>Calls and SIP</legend>
<div class="row">
<label class="check"><input type="checkbox" name="calling" value="enabled"${c.calling === "enabled" ? " checked" : ""} ${described("calling")}> Calls</label>
<label class="check"><input type="checkbox" name="sip" value="enabled"${c.sip.status === "enabled" ? " checked" : ""} ${described("sip")}> SIP</label>
<label>Server <input type="text" name="host" value="${e(c.sip.host ?? "")}" placeholder="sip.example.com" autocomplete="off" spellcheck="false" ${described("host")}></label>
<label>TLS port <input type="number" name="port" value="${c.sip.port}" min="1" max="65535" ${described("port")}></label>
<button type="submit">Save</button>
</div>
${(["calling", "sip", "host", "port"] as const).map((f) => fieldError(`err-${f}-${id}`, errors[f])).join("")}
<div class="error-field${c.error ? " refused" : ""}" role="status" aria-live="polite">
<label for="error-${id}">Error</label>
<output id="error-${id}" data-error-field>${e(errorText(c))}</output>
<a href="${CALLING_TROUBLESHOOTING_URL}" target="_blank" rel="noopener">Meta's calling troubleshooting</a>
${posted?.phoneId === n.phoneId && posted.saved ? `<p class="hint" data-saved>Saved${c.error ? ", but Meta refused it" : " and applied by Meta"}.</p>` : ""}
</div>
</fieldset>
</form>`;
}

function numberPanel(n: NumberView, input: NumbersPageInput): string {
  const id = e(n.phoneId);
  return `<section class="panel" aria-labelledby="phone-${id}" data-phone="${id}">
<h2 id="phone-${id}">${e(n.phone)}</h2>
<dl>
<dt>WABA</dt><dd>${e(n.wabaName ?? "unknown")} <span class="hint">(${e(n.wabaId)})</span></dd>
<dt>Phone id</dt><dd>${id}</dd>
<dt>Open line</dt><dd>${n.line ? `${e(n.line.name)} <span class="hint">(id ${n.line.id})</span>` : "not connected"}</dd>
<dt>Connector</dt><dd data-connector>${connectorText(n)}</dd>
<dt>SMS provider</dt><dd>${smsText(n)}</dd>
<dt>Account</dt><dd data-account>${accountText(n)}</dd>
<dt>Quality</dt><dd data-quality>${n.quality ? reportText(n.quality) : "no report from Meta yet"}</dd>
</dl>
${callingForm(n, input.session, input.posted)}
</section>`;
}

/**
 * Saves a calling form without leaving the page, and grows the Bitrix24 frame to the content. Without
 * script the form posts and the server answers the whole page: this only spares the reload.
 */
export const NUMBERS_SCRIPT = `(function(){
var fit=function(){if(window.BX24&&BX24.fitWindow)BX24.fitWindow()};
if(window.BX24&&BX24.init)BX24.init(fit);
document.querySelectorAll("form[data-calling-form]").forEach(function(f){f.addEventListener("submit",function(ev){
ev.preventDefault();var b=f.querySelector("button");b.disabled=true;
fetch(f.action,{method:"POST",headers:{accept:"application/json"},body:new URLSearchParams(new FormData(f))})
.then(function(r){return r.json()}).then(function(j){
f.querySelectorAll("[data-error-for]").forEach(function(s){s.textContent="";var i=f.querySelector("[aria-describedby='"+s.id+"']");if(i)i.removeAttribute("aria-invalid")});
var fe=j.fieldErrors||{};Object.keys(fe).forEach(function(k){var s=f.querySelector("[id^='err-"+k+"-']");if(s){s.textContent=fe[k];var i=f.querySelector("[aria-describedby='"+s.id+"']");if(i){i.setAttribute("aria-invalid","true");i.focus()}}});
var o=f.querySelector("[data-error-field]");
if(j.settings){o.textContent=j.errorText;o.parentNode.classList.toggle("refused",!!j.settings.error)}else if(j.message){o.textContent=j.message;o.parentNode.classList.add("refused")}
}).catch(function(){f.submit()}).finally(function(){b.disabled=false;fit()})})})})();`;

export function numbersPage(input: NumbersPageInput): string {
  const body = input.numbers.length
    ? input.numbers.map((n) => numberPanel(n, input)).join("\n")
    : `<p class="panel">No WhatsApp number is connected to this portal yet. Numbers are added with the admin API (<code>POST /api/admin/phones</code>).</p>`;
  return page("WhatsApp numbers", `<main><h1>WhatsApp numbers</h1>\n${body}</main>`, {
    frameScriptUrl: input.frameScriptUrl,
    script: NUMBERS_SCRIPT,
  });
}
