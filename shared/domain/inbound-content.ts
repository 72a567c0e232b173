import { escapeCustomerText, escapeStringsIn } from "./customer-text.ts";
import { explainMetaError } from "./meta-errors.ts";

/** Fields parsed before they are shown, and escaped then (a Flow's answers are JSON in a string). */
const SHOWN_AFTER_PARSING = new Set(["response_json"]);

/**
 * What the operator sees in the Bitrix24 Open Lines chat for one WhatsApp `messages[]` item: English
 * text in Bitrix BB-code (`[b]`, `[i]`, plain newlines) and at most one file to fetch from Meta. Every
 * message type, known or not, yields a readable text; nothing here throws on odd payloads.
 */
export type InboundMediaKind = "image" | "audio" | "video" | "document" | "sticker";

export interface InboundMedia {
  readonly kind: InboundMediaKind;
  /** Meta media id: `GET /{media-id}` gives the download URL (the id lives 7 days). */
  readonly mediaId: string;
  readonly mimeType: string;
  /** Name for Bitrix24, which keeps 50 characters of it. */
  readonly fileName: string;
  readonly voice?: boolean;
}

export interface InboundContent {
  /** Never empty. */
  readonly text: string;
  readonly media?: InboundMedia;
  /** The wamid this message answers, reacts to, edits or deletes. */
  readonly replyToWamid?: string;
  /** The click-to-WhatsApp ad the customer came from (`referral.source_url`). */
  readonly chatUrl?: string;
  /** `messages[].type`, or `unsupported` when Meta attached `errors[]`. */
  readonly kind: string;
}

type Json = Record<string, unknown>;

interface Described {
  readonly text: string;
  readonly media?: InboundMedia;
  readonly replyToWamid?: string;
}

const MEDIA_KINDS: readonly InboundMediaKind[] = ["image", "audio", "video", "document", "sticker"];
const MEDIA_LABEL: Readonly<Record<InboundMediaKind, string>> = {
  image: "Image",
  audio: "Audio",
  video: "Video",
  document: "Document",
  sticker: "Sticker",
};
const FILE_NAME_MAX = 50;

/**
 * `outsideErrors`: the change's value-level `errors[]`, which Meta sometimes sends instead of the
 * message's own (the message then has no body to describe).
 */
/** What we kept of a message this one replies or reacts to: a capped snippet of its text and its time. */
export interface QuotedMessage {
  readonly text?: string;
  /** Unix seconds. */
  readonly at?: number;
}

/** Heads what the business typed in the WhatsApp Business app when we show it in Bitrix24. */
export const BUSINESS_APP_MARKER = "[b]Sent from the WhatsApp Business app:[/b]";

/** How long a snippet of a message's text we keep to quote it later. */
export const SNIPPET_MAX = 120;

/** The start of a message's text, without BB-code, for quoting; undefined when it has none. */
export function snippetOf(text: string | undefined): string | undefined {
  const plain = text
    ?.replace(/\[\/?[a-z*]+(=[^\]]*)?\]/gi, "")
    .replace(/\s+/g, " ")
    .trim();
  if (!plain) return undefined;
  const chars = [...plain];
  return chars.length > SNIPPET_MAX ? `${chars.slice(0, SNIPPET_MAX - 1).join("")}…` : plain;
}

/**
 * `quote`: what we know of the message this one replies or reacts to (`replyToWamid` of a first pass), so
 * the operator sees what is being answered rather than an id.
 */
export function describeInboundMessage(
  received: Record<string, unknown>,
  outsideErrors: readonly unknown[] = [],
  quote?: QuotedMessage,
): InboundContent {
  // Whatever the customer typed is shown as typed: only the bridge's own wording carries BBCode.
  const message = escapeStringsIn(received, SHOWN_AFTER_PARSING);
  const type = str(message.type) ?? "unknown";
  const own = objects(message.errors);
  const errors = own.length > 0 || obj(message[type]) ? own : objects(outsideErrors);
  const described =
    errors.length > 0
      ? describeErrors(type, message, errors)
      : type === "reaction"
        ? describeReaction(obj(message.reaction) ?? {}, quote)
        : describeType(type, message);
  const context = obj(message.context);

  const lines: string[] = [];
  // Button and list answers, and "Message business" product questions, carry the message they answer in
  // `context` too; their own text already says what they answer.
  const plainReply =
    str(context?.id) !== undefined &&
    !["reaction", "button", "interactive"].includes(type) &&
    !obj(context?.referred_product);
  if (plainReply) lines.push(`[i]Reply to ${quoted(quote)}[/i]`);
  if (context?.frequently_forwarded === true) lines.push("[i]Forwarded many times[/i]");
  else if (context?.forwarded === true) lines.push("[i]Forwarded[/i]");
  lines.push(described.text);
  const product = obj(context?.referred_product);
  if (product) lines.push(productNote(product));
  const referral = obj(message.referral);
  if (referral) lines.push(describeReferral(referral));

  const replyToWamid = described.replyToWamid ?? str(context?.id);
  const chatUrl = str(referral?.source_url);
  return {
    text: lines.join("\n"),
    ...(described.media ? { media: described.media } : {}),
    ...(replyToWamid ? { replyToWamid } : {}),
    ...(chatUrl ? { chatUrl } : {}),
    kind: errors.length > 0 ? "unsupported" : type,
  };
}

function describeType(type: string, message: Json): Described {
  if ((MEDIA_KINDS as readonly string[]).includes(type))
    return describeMedia(type as InboundMediaKind, message);
  switch (type) {
    case "text":
      return { text: str(obj(message.text)?.body) ?? "[i](empty message)[/i]" };
    case "button":
      return describeTemplateButton(obj(message.button) ?? {});
    case "interactive":
      return describeInteractive(obj(message.interactive) ?? {});
    case "reaction":
      return describeReaction(obj(message.reaction) ?? {});
    case "location":
      return { text: describeLocation(obj(message.location) ?? {}) };
    case "contacts":
      return { text: describeContacts(objects(message.contacts)) };
    case "order":
      return { text: describeOrder(obj(message.order) ?? {}) };
    case "system":
      return { text: describeSystem(obj(message.system) ?? {}) };
    case "edit":
      return describeEdit(obj(message.edit) ?? {});
    case "revoke": {
      const original = str(obj(message.revoke)?.original_message_id);
      return { text: `[i]The customer deleted a message${idSuffix(original)}[/i]`, replyToWamid: original };
    }
    case "request_welcome":
      return { text: "[i]The customer opened the chat for the first time[/i]" };
    case "unsupported":
      return { text: unsupportedText(obj(message.unsupported)) };
    default:
      return { text: `Unsupported message type: ${type}` };
  }
}

function describeMedia(kind: InboundMediaKind, message: Json): Described {
  const m = obj(message[kind]) ?? {};
  const voice = kind === "audio" && m.voice === true;
  // Bitrix24 shows "[FILE]" for a file without text; a caption or a short label reads better.
  const text = str(m.caption) ?? (voice ? "Voice message" : MEDIA_LABEL[kind]);
  const mediaId = str(m.id);
  if (!mediaId) return { text: `${text}\n[i](WhatsApp sent no file for it)[/i]` };
  const mimeType = str(m.mime_type) ?? "application/octet-stream";
  const fileName =
    kind === "document"
      ? documentFileName(str(m.filename), mediaId, mimeType)
      : generatedName(kind, mediaId, mimeType);
  return { text, media: { kind, mediaId, mimeType, fileName, ...(voice ? { voice: true } : {}) } };
}

function describeTemplateButton(button: Json): Described {
  const label = str(button.text) ?? str(button.payload) ?? "(no label)";
  const payload = str(button.payload);
  const lines = [`Pressed button: [b]${label}[/b]`];
  if (payload && payload !== label) lines.push(`[i]Button payload: ${payload}[/i]`);
  return { text: lines.join("\n") };
}

function describeInteractive(interactive: Json): Described {
  const type = str(interactive.type) ?? "unknown";
  const reply = obj(interactive[type]) ?? {};
  switch (type) {
    case "button_reply":
      return { text: choice("Pressed button", reply, "Button id") };
    case "list_reply":
      return { text: choice("Selected from list", reply, "Row id") };
    case "nfm_reply":
      return { text: describeFlowReply(reply) };
    case "call_permission_reply":
      return { text: describeCallPermission(reply) };
    default:
      return { text: `Unsupported interactive reply: ${type}` };
  }
}

/** Title first, then the list row's description, then the id the business defined (when it adds anything). */
function choice(verb: string, reply: Json, idLabel: string): string {
  const title = str(reply.title) ?? str(reply.id) ?? "(no title)";
  const id = str(reply.id);
  const description = str(reply.description);
  return [
    `${verb}: [b]${title}[/b]`,
    ...(description ? [description] : []),
    ...(id && id !== title ? [`[i]${idLabel}: ${id}[/i]`] : []),
  ].join("\n");
}

/** A WhatsApp Flow (or address message) answer: `response_json` is a JSON string of the submitted fields. */
function describeFlowReply(reply: Json): string {
  const heading = reply.name === "address_message" ? "[b]Address submitted[/b]" : "[b]Form submitted[/b]";
  const raw = reply.response_json;
  let parsed: unknown = raw;
  if (typeof raw === "string") {
    try {
      parsed = JSON.parse(raw);
    } catch {
      return `${heading}\n${escapeCustomerText(raw)}`;
    }
  }
  const lines =
    typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? flatten(parsed as Json, "")
          .filter((line) => !line.startsWith("flow_token:"))
          .map(escapeCustomerText)
      : parsed === undefined || parsed === null
        ? []
        : [escapeCustomerText(JSON.stringify(parsed))];
  const body = str(reply.body);
  return [heading, ...(lines.length > 0 ? lines : body ? [body] : [])].join("\n");
}

function flatten(value: Json, prefix: string): string[] {
  return Object.entries(value).flatMap(([key, v]) => {
    const name = `${prefix}${key}`;
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return flatten(v as Json, `${name}.`);
    if (Array.isArray(v) && v.every((x) => typeof x !== "object" || x === null))
      return [`${name}: ${v.join(", ")}`];
    return [`${name}: ${typeof v === "string" ? v : JSON.stringify(v)}`];
  });
}

function describeCallPermission(reply: Json): string {
  if (reply.response !== "accept") return "The customer declined WhatsApp calls from this number";
  const until = numeric(reply.expiration_timestamp);
  const scope =
    reply.is_permanent === true ? " (permanently)" : until !== undefined ? ` until ${utc(until)}` : "";
  return `The customer allowed WhatsApp calls from this number${scope}`;
}

function describeReaction(reaction: Json, quote?: QuotedMessage): Described {
  const target = str(reaction.message_id);
  const emoji = str(reaction.emoji);
  // Meta omits `emoji` when the customer takes a reaction back.
  const text = emoji ? `Reacted ${emoji}` : "Removed their reaction";
  const to = quote ? quoted(quote) : target ? `message ${target}` : undefined;
  return { text: `${text}${to ? ` [i](to ${to})[/i]` : ""}`, replyToWamid: target };
}

/** The quoted message by its text when we kept it, else by its time, else as an earlier message. */
function quoted(quote: QuotedMessage | undefined): string {
  if (quote?.text) return `“${quote.text}”`;
  if (quote?.at !== undefined) return `the message of ${utc(quote.at)}`;
  return "an earlier message";
}

function describeLocation(location: Json): string {
  const name = str(location.name);
  const lines = [name ? `[b]Location:[/b] ${name}` : "[b]Location[/b]"];
  const address = str(location.address);
  if (address) lines.push(address);
  const lat = numeric(location.latitude);
  const long = numeric(location.longitude);
  if (lat !== undefined && long !== undefined) {
    lines.push(`Coordinates: ${lat}, ${long}`);
    lines.push(`Map: https://maps.google.com/?q=${lat},${long}`);
  }
  const url = str(location.url);
  if (url) lines.push(url);
  return lines.join("\n");
}

function describeContacts(contacts: Json[]): string {
  if (contacts.length === 0) return "[b]Contact[/b]\n[i](no details shared)[/i]";
  return contacts.map(contactCard).join("\n\n");
}

function contactCard(contact: Json): string {
  const name = obj(contact.name) ?? {};
  const fullName =
    str(name.formatted_name) ??
    ([name.prefix, name.first_name, name.middle_name, name.last_name, name.suffix]
      .map(str)
      .filter(Boolean)
      .join(" ") ||
      "(no name)");
  const lines = [`[b]Contact:[/b] ${fullName}`];
  for (const p of objects(contact.phones)) {
    const phone = str(p.phone) ?? (str(p.wa_id) ? `+${str(p.wa_id)}` : undefined);
    if (phone) lines.push(`Phone: ${phone}${typeSuffix(p.type)}${str(p.wa_id) ? " (on WhatsApp)" : ""}`);
  }
  for (const e of objects(contact.emails)) {
    const email = str(e.email);
    if (email) lines.push(`Email: ${email}${typeSuffix(e.type)}`);
  }
  const org = obj(contact.org);
  const company = [org?.company, org?.department, org?.title].map(str).filter(Boolean).join(", ");
  if (company) lines.push(`Organization: ${company}`);
  for (const u of objects(contact.urls)) {
    const url = str(u.url);
    if (url) lines.push(`Website: ${url}${typeSuffix(u.type)}`);
  }
  for (const a of objects(contact.addresses)) {
    const address = [a.street, a.city, a.state, a.zip, a.country].map(str).filter(Boolean).join(", ");
    if (address) lines.push(`Address: ${address}${typeSuffix(a.type)}`);
  }
  const birthday = str(contact.birthday);
  if (birthday) lines.push(`Birthday: ${birthday}`);
  return lines.join("\n");
}

function describeOrder(order: Json): string {
  const catalog = str(order.catalog_id);
  const lines = [catalog ? `[b]Order[/b] (catalog ${catalog})` : "[b]Order[/b]"];
  const note = str(order.text);
  if (note) lines.push(note);
  const totals = new Map<string, number>();
  for (const item of objects(order.product_items)) {
    const product = str(item.product_retailer_id) ?? "(unknown product)";
    const quantity = numeric(item.quantity);
    const price = numeric(item.item_price);
    const currency = str(item.currency) ?? "";
    const priced = price !== undefined ? ` @ ${money(price)}${currency ? ` ${currency}` : ""}` : "";
    lines.push(`• ${product} × ${quantity ?? "?"}${priced}`);
    if (quantity !== undefined && price !== undefined) {
      totals.set(currency, (totals.get(currency) ?? 0) + quantity * price);
    }
  }
  for (const [currency, total] of totals)
    lines.push(`[b]Total:[/b] ${money(total)}${currency ? ` ${currency}` : ""}`);
  return lines.join("\n");
}

function describeSystem(system: Json): string {
  const type = str(system.type);
  if (type === "user_changed_number" || type === "customer_changed_number") {
    const number = str(system.wa_id) ?? str(system.new_wa_id);
    return number
      ? `[i]The customer changed their number to +${number}[/i]`
      : `[i]${str(system.body) ?? "The customer changed their number"}[/i]`;
  }
  if (type === "user_changed_user_id") return "[i]The customer's WhatsApp user id changed[/i]";
  return `[i]${str(system.body) ?? `System message (${type ?? "unknown"})`}[/i]`;
}

/** Coexistence numbers only: the customer edited a message within 15 minutes of sending it. */
function describeEdit(edit: Json): Described {
  const original = str(edit.original_message_id);
  const inner = obj(edit.message);
  const newText = inner ? describeType(str(inner.type) ?? "unknown", inner).text : "[i](no new content)[/i]";
  return {
    text: `[i]The customer edited a message${idSuffix(original)}. New version:[/i]\n${newText}`,
    replyToWamid: original,
  };
}

function describeErrors(type: string, message: Json, errors: Json[]): Described {
  // What the customer wrote still shows: a media error does not take the caption with it.
  const body = obj(message[type]);
  const own = str(body?.caption) ?? str(body?.body);
  const lines = errors.map((error) => {
    const code = numeric(error.code);
    const title =
      str(error.title) ??
      str(error.message) ??
      (code !== undefined ? explainMetaError(code).title : undefined);
    const reason = [code !== undefined ? `code ${code}` : undefined, title].filter(Boolean).join(": ");
    const details = str(obj(error.error_data)?.details);
    return `Unsupported message${reason ? ` (${reason})` : ""}${details ? `\n[i]${details}[/i]` : ""}`;
  });
  const detail = type === "unsupported" ? unsupportedType(obj(message.unsupported)) : type;
  if (detail) lines.push(`[i]Message type: ${detail}[/i]`);
  if (own) lines.unshift(own);
  return { text: lines.join("\n") };
}

function unsupportedText(unsupported: Json | undefined): string {
  const type = unsupportedType(unsupported);
  return `Unsupported message${type ? `\n[i]Message type: ${type}[/i]` : ""}`;
}

function unsupportedType(unsupported: Json | undefined): string | undefined {
  return str(unsupported?.type);
}

function productNote(product: Json): string {
  const id = str(product.product_retailer_id) ?? "(unknown)";
  const catalog = str(product.catalog_id);
  return `[i]About product ${id}${catalog ? ` from catalog ${catalog}` : ""}[/i]`;
}

/** Click-to-WhatsApp ads put `referral` on the customer's first message, whatever its type. */
function describeReferral(referral: Json): string {
  const headline = str(referral.headline);
  const lines = [headline ? `[b]From an ad:[/b] ${headline}` : "[b]From an ad[/b]"];
  const body = str(referral.body);
  if (body) lines.push(body);
  const source = [str(referral.source_type), str(referral.source_url)].filter(Boolean).join(" ");
  if (source) lines.push(`Source: ${source}`);
  const media = str(referral.image_url) ?? str(referral.video_url);
  if (media) lines.push(`Ad ${str(referral.media_type) ?? "media"}: ${media}`);
  const welcome = str(obj(referral.welcome_message)?.text);
  if (welcome) lines.push(`Ad welcome message: ${welcome}`);
  return lines.join("\n");
}

/** Bitrix24 keeps 50 characters of a file name; cut the base name so the extension survives. */
function documentFileName(name: string | undefined, mediaId: string, mimeType: string): string {
  const clean = name?.replace(/[\p{Cc}/\\]/gu, "_").trim();
  if (!clean) return generatedName("document", mediaId, mimeType);
  const dot = clean.lastIndexOf(".");
  const hasExt = dot > 0 && /^[\p{L}\p{N}]{1,10}$/u.test(clean.slice(dot + 1));
  const fromMime = extensionForMime(mimeType);
  const base = hasExt ? clean.slice(0, dot) : clean;
  const ext = hasExt ? clean.slice(dot) : fromMime === "bin" ? "" : `.${fromMime}`;
  const room = FILE_NAME_MAX - ext.length;
  const chars = [...base];
  return `${chars.length > room ? chars.slice(0, room).join("").trimEnd() : base}${ext}`;
}

function generatedName(kind: InboundMediaKind, mediaId: string, mimeType: string): string {
  const shortId = mediaId.replace(/[^A-Za-z0-9]/g, "").slice(-8) || "file";
  return `${kind}-${shortId}.${extensionForMime(mimeType)}`;
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
  "image/gif": "gif",
  "audio/ogg": "ogg",
  "audio/opus": "opus",
  "audio/mpeg": "mp3",
  "audio/mp4": "m4a",
  "audio/aac": "aac",
  "audio/amr": "amr",
  "video/mp4": "mp4",
  "video/3gpp": "3gp",
  "application/pdf": "pdf",
  "text/plain": "txt",
  "application/msword": "doc",
  "application/vnd.ms-excel": "xls",
  "application/vnd.ms-powerpoint": "ppt",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
};

/** File extension for a MIME type as Meta sends it (parameters such as `; codecs=opus` ignored). */
export function extensionForMime(mimeType: string): string {
  const essence = mimeType.replace(/;.*$/s, "").trim().toLowerCase();
  return EXTENSIONS[essence] ?? "bin";
}

function idSuffix(id: string | undefined): string {
  return id ? ` (${id})` : "";
}

function typeSuffix(type: unknown): string {
  const t = str(type);
  return t ? ` (${t.toLowerCase()})` : "";
}

/** Meta sends numbers in webhooks but strings in some documented samples; accept both. */
function numeric(v: unknown): number | undefined {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
}

function money(n: number): string {
  const cents = Math.round(n * 100) / 100;
  return Number.isInteger(cents) ? String(cents) : cents.toFixed(2);
}

function utc(unixSeconds: number): string {
  const date = new Date(unixSeconds * 1000);
  if (Number.isNaN(date.getTime())) return String(unixSeconds);
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function obj(v: unknown): Json | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function objects(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter((x): x is Json => obj(x) !== undefined) : [];
}

function str(v: unknown): string | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return typeof v === "string" && v.trim().length > 0 ? v.trim() : undefined;
}
