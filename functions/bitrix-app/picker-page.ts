import type { PickerTemplate, PickerView } from "#shared/use-cases/template-picker.ts";
import { escapeHtml as e, page } from "./html.ts";

export interface PickerPageInput {
  readonly view: PickerView;
  /** The operator's frame token: the send posts into the chat as them (it came from this browser). */
  readonly accessToken: string;
  readonly frameScriptUrl: string;
  /** The outcome of a send posted without script. */
  readonly outcome?: { ok: boolean; message: string; template?: string };
}

const MEDIA_LABEL = { image: "Header image URL", video: "Header video URL", document: "Header document URL" };

function templateForm(t: PickerTemplate, input: PickerPageInput, index: number): string {
  if (input.view.kind !== "chat") return "";
  const id = `t${index}`;
  const key = `${t.name}+${t.language}`;
  const fields = t.inputs.variables
    .map((v, i) => {
      const name = t.inputs.named ? v.key : String(i);
      const label = t.inputs.named ? v.key : v.header ? "Header {{1}}" : `{{${v.key}}}`;
      return `<label>${e(label)} <input type="text" name="var.${e(name)}" required></label>`;
    })
    .join("");
  const media = t.inputs.mediaKind
    ? `<label>${MEDIA_LABEL[t.inputs.mediaKind]} <input type="url" name="fileLink" required placeholder="https://…"></label>`
    : "";
  const button = t.inputs.buttonParam
    ? `<label>URL button parameter <input type="text" name="buttonParam" required></label>`
    : "";
  const blocked = t.inputs.unsupported.length
    ? `<p class="field-error">Cannot be sent from the chat: it has ${e(t.inputs.unsupported.join(", "))}.</p>`
    : "";
  const sentHere = input.outcome?.template === key;
  return `<details class="panel" data-template="${e(key)}"${sentHere ? " open" : ""}>
<summary><b>${e(t.name)}</b> · ${e(t.language)}${t.category ? ` · ${e(t.category.toLowerCase())}` : ""}</summary>
<p class="hint" id="${id}-body">${e(t.body)}</p>
${blocked}
<form method="post" action="/api/bitrix/app/picker/send" data-picker-form aria-describedby="${id}-body">
<input type="hidden" name="session" value="${e(input.view.session)}">
<input type="hidden" name="auth" value="${e(input.accessToken)}">
<input type="hidden" name="dialogId" value="${e(input.view.chat.dialogId)}">
<input type="hidden" name="name" value="${e(t.name)}"><input type="hidden" name="language" value="${e(t.language)}">
<div class="row">${fields}${media}${button}<button type="submit"${t.inputs.unsupported.length ? " disabled" : ""}>Send</button></div>
<p role="status" aria-live="polite" data-outcome>${sentHere ? e(input.outcome?.message ?? "") : ""}</p>
</form>
</details>`;
}

/** Sends without leaving the picker; without script the form posts and the whole picker comes back. */
export const PICKER_SCRIPT = `(function(){
var fit=function(){if(window.BX24&&BX24.fitWindow)BX24.fitWindow()};
if(window.BX24&&BX24.init)BX24.init(fit);
document.querySelectorAll("details").forEach(function(d){d.addEventListener("toggle",fit)});
document.querySelectorAll("form[data-picker-form]").forEach(function(f){f.addEventListener("submit",function(ev){
ev.preventDefault();var b=f.querySelector("button"),o=f.querySelector("[data-outcome]");b.disabled=true;o.textContent="Sending…";
fetch(f.action,{method:"POST",headers:{accept:"application/json"},body:new URLSearchParams(new FormData(f))})
.then(function(r){return r.json()}).then(function(j){o.textContent=j.message;o.className=j.ok?"hint":"field-error"})
.catch(function(){f.submit()}).finally(function(){b.disabled=false;fit()})})})})();`;

export function pickerPage(input: PickerPageInput): string {
  const { view } = input;
  let body: string;
  if (view.kind === "not-whatsapp") {
    body = `<p class="panel">This chat is not a WhatsApp conversation of this app: there are no templates to send here.</p>`;
  } else {
    const { chat } = view;
    const windowNote = chat.windowOpen
      ? `<p class="hint">The customer wrote in the last 24 hours: a template or a free text can go.</p>`
      : `<p class="panel field-error" role="note" data-window-closed>The customer last wrote more than 24 hours ago: only a template can go now.</p>`;
    const list = chat.templates.length
      ? chat.templates.map((t, i) => templateForm(t, input, i)).join("\n")
      : `<p class="panel">The WhatsApp Business Account of ${e(chat.phone.phone)} has no approved templates.</p>`;
    body = `<p>Templates of ${e(chat.phone.phone)}. Sending posts the template into the chat as you; it goes out through the chat like a typed <code>template-…</code> code.</p>${windowNote}${list}`;
  }
  return page("WhatsApp templates", `<main><h1>WhatsApp templates</h1>${body}</main>`, {
    frameScriptUrl: input.frameScriptUrl,
    script: PICKER_SCRIPT,
  });
}
