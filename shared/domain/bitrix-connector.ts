import { parse } from "qs";

/** Our Open Lines connector: one per portal; the line an event names tells which WhatsApp number it is. */
export const CONNECTOR_ID = "separator_waba";
export const CONNECTOR_NAME = "WhatsApp (separator)";

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="16" fill="#25D366"/>' +
  '<path fill="#fff" d="M16 6.5a9.5 9.5 0 0 0-8.2 14.3L6.5 25.5l4.8-1.3A9.5 9.5 0 1 0 16 6.5zm5.5 13.4c-.2.7-1.3 1.3-1.9 1.4-.5.1-1.1.1-1.8-.1-.4-.1-1-.3-1.6-.6-2.9-1.3-4.8-4.2-4.9-4.4-.1-.2-1.2-1.6-1.2-3s.8-2.2 1-2.5c.3-.3.6-.4.8-.4h.6c.2 0 .4 0 .6.5l.8 2c.1.2.1.4 0 .5l-.3.5-.4.4c-.1.1-.3.3-.1.6.2.3.7 1.2 1.5 1.9 1 .9 1.9 1.2 2.2 1.3.3.1.4.1.6-.1l.8-1c.2-.3.4-.2.6-.1l1.9.9c.3.1.5.2.5.3.1.1.1.7-.1 1.4z"/></svg>';

export const CONNECTOR_ICON = `data:image/svg+xml;base64,${Buffer.from(ICON_SVG).toString("base64")}`;

/**
 * Events our handler URL is bound to on every portal. ONAPPINSTALL reaches an app with an install page
 * only when that page bound it; it brings the application token the page did not have.
 */
export const BOUND_EVENTS = [
  "ONAPPINSTALL",
  "ONIMCONNECTORMESSAGEADD",
  "ONIMCONNECTORMESSAGEUPDATE",
  "ONIMCONNECTORMESSAGEDELETE",
  "ONIMCONNECTORLINEDELETE",
  "ONIMCONNECTORSTATUSDELETE",
  "ONAPPUNINSTALL",
  "ONAPPUPDATE",
] as const;

/** Scopes the Bitrix24 app must be given for what this bridge calls. */
export const REQUIRED_SCOPES = [
  "imconnector",
  "imopenlines",
  "im",
  "crm",
  "messageservice",
  "user",
  "placement",
  "bizproc",
  // disk.file.get: operators' files an event names only by id (params[FILE_ID]).
  "disk",
];

/**
 * Bitrix24 posts PHP `http_build_query` bodies: nested keys like `data[MESSAGES][0][message][files][0][name]`
 * go six levels deep, and qs's default depth of 5 silently mangles them, so parse to full depth.
 */
export function parseBitrixForm(body: string): Record<string, unknown> {
  return parse(body, { depth: 20, arrayLimit: 1000, parameterLimit: 10_000 }) as Record<string, unknown>;
}

/** A form-decoded scalar as text: PHP's `http_build_query` makes every value a string (numbers too). */
export function formString(v: unknown): string {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : "";
}

/** Open-line name for a number: `separator_77001234567`. */
export function lineNameFor(prefix: string, e164: string): string {
  return `${prefix}${e164.replace(/\D/g, "")}`;
}

/** SMS-provider sender code; Bitrix's handler call names no sender number, so the code must identify it. */
export function smsSenderCodeFor(phoneId: string): string {
  return `waba_${phoneId}`;
}

export function phoneIdFromSmsSenderCode(code: string): string | undefined {
  return /^waba_(\d+)$/.exec(code)?.[1];
}

/** Normalises a phone number to E.164 (`+` and 8–15 digits), or undefined when it cannot be one. */
export function toE164(raw: string): string | undefined {
  const digits = raw.replace(/[\s\-().]/g, "").replace(/^00/, "+");
  const match = /^\+?(\d{8,15})$/.exec(digits);
  return match ? `+${match[1]}` : undefined;
}
