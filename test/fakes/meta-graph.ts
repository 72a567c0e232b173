/**
 * Loopback fake of Meta's Graph API (WhatsApp Cloud API) speaking the documented wire formats:
 * versioned paths `/{vNN.N}/...`, bearer tokens, the `{ "error": { message, type, code, error_data?,
 * error_subcode?, fbtrace_id } }` error shape, cursor paging with absolute `paging.next` URLs, and media
 * download URLs that need the same bearer token. Shapes come from `test/fixtures/meta/*.json`.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import type { FakeResponse, HttpFakeOptions, RecordedRequest, RequestMatcher } from "./http-fake.ts";
import { HttpFake } from "./http-fake.ts";

export interface MetaTokenScope {
  /** WABAs the token may manage; omitted = any. */
  wabaIds?: string[];
  /** Phone number ids the token may use; omitted = any. */
  phoneIds?: string[];
}

export interface MediaInput {
  mimeType: string;
  bytes: Buffer;
  fileName?: string;
  /** Owning phone number id (uploads set it); `GET /{media-id}?phone_number_id=` must then match. */
  phoneId?: string;
}

export interface StoredMedia extends MediaInput {
  id: string;
  /** Base64 SHA-256 of the bytes, as in webhook media objects. */
  sha256: string;
}

export interface SentMessage {
  phoneId: string;
  /** The wamid the fake answered with. */
  wamid: string;
  /** The phone sent to (`to`); empty for a send to a business-scoped user id only. */
  to: string;
  /** The BSUID sent to (`recipient`), when the request named one. */
  recipient?: string;
  type: string;
  /** The request body exactly as parsed. */
  body: Record<string, unknown>;
  token: string;
  at: number;
}

export interface ReadReceipt {
  phoneId: string;
  messageId: string;
  typingIndicator?: unknown;
  at: number;
}

export interface UploadedMedia extends StoredMedia {
  phoneId: string;
  at: number;
}

export interface Subscription {
  appId: string;
  overrideCallbackUri?: string;
  verifyToken?: string;
  at: number;
}

export interface MetaGraphFakeOptions extends HttpFakeOptions {
  /** The app the tokens belong to (listed by `GET /{waba}/subscribed_apps`). */
  appId?: string;
  appName?: string;
  /** Lifetime of media download URLs (docs: 5 minutes). */
  mediaUrlTtlSeconds?: number;
  /** Page size of `message_templates` when no `limit` is given (Graph default 25). */
  defaultPageSize?: number;
}

export interface GraphErrorOptions {
  /** Replaces the documented `error_data.details`. */
  details?: string;
  /** Replaces the HTTP status of the table. */
  status?: number;
  /** Replaces `error.message`. */
  message?: string;
  /** How many matching requests fail (default 1). */
  times?: number;
}

interface GraphErrorSpec {
  status: number;
  title: string;
  details?: string;
  /** Message without the `(#code)` prefix (Graph-level errors such as 190). */
  plainMessage?: boolean;
  type?: string;
  subcode?: number;
  transient?: boolean;
}

/**
 * Documented Graph / Cloud API errors (WA/support/error-codes, WA/calling/troubleshooting). HTTP statuses:
 * authorization 401, permissions 403, throttling 429, unknown/server 500, service 503, the rest 400.
 * `500` is not a Graph code: it scripts a plain transient server failure (Graph code 1, HTTP 500).
 */
const GRAPH_ERRORS: Record<number, GraphErrorSpec> = {
  0: { status: 401, title: "AuthException", details: "We were unable to authenticate the app user." },
  1: { status: 500, title: "An unknown error has occurred.", plainMessage: true, transient: true },
  2: { status: 503, title: "Service temporarily unavailable", plainMessage: true, transient: true },
  4: { status: 429, title: "Application request limit reached" },
  10: {
    status: 403,
    title: "Permission Denied",
    details: "Permission is either not granted or has been removed.",
  },
  100: { status: 400, title: "Invalid parameter", details: "Invalid parameter" },
  190: { status: 401, title: "Invalid OAuth access token", plainMessage: true, subcode: 463 },
  200: {
    status: 403,
    title: "Permission error",
    details: "Permission is either not granted or has been removed.",
  },
  368: { status: 403, title: "Temporarily blocked for policies violations" },
  500: { status: 500, title: "An unknown error has occurred.", plainMessage: true, transient: true },
  80007: {
    status: 429,
    title: "Rate limit issues",
    details: "The WhatsApp Business Account has reached its rate limit.",
  },
  130429: {
    status: 429,
    title: "Rate limit hit",
    details: "Cloud API message throughput has been reached.",
    subcode: 2494055,
  },
  130472: { status: 400, title: "User's number is part of an experiment" },
  131000: {
    status: 500,
    title: "Something went wrong",
    details: "Message failed to send due to an unknown error.",
  },
  131005: {
    status: 403,
    title: "Access denied",
    details: "Permission is either not granted or has been removed.",
  },
  131008: { status: 400, title: "Required parameter is missing" },
  131009: { status: 400, title: "Parameter value is not valid" },
  131016: { status: 503, title: "Service unavailable", details: "A service is temporarily unavailable." },
  131021: { status: 400, title: "Recipient cannot be sender" },
  131026: {
    status: 400,
    title: "Message Undeliverable",
    details:
      "Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone number; " +
      "the recipient has not accepted the terms of service; the recipient is using an old WhatsApp version.",
  },
  131031: { status: 403, title: "Account has been locked" },
  131042: { status: 400, title: "Business eligibility payment issue" },
  131045: {
    status: 400,
    title: "Incorrect certificate",
    details: "Message failed to send due to a phone number registration error.",
  },
  131047: {
    status: 400,
    title: "Re-engagement message",
    details: "More than 24 hours have passed since the recipient last replied to the sender number.",
  },
  131048: {
    status: 429,
    title: "Spam rate limit hit",
    details:
      "Message failed to send because there are restrictions on how many messages can be sent from this phone number.",
  },
  131049: {
    status: 400,
    title: "This message was not delivered to maintain healthy ecosystem engagement.",
  },
  131050: { status: 400, title: "User has stopped marketing messages" },
  131051: { status: 400, title: "Unsupported message type" },
  131052: { status: 400, title: "Media download error" },
  131053: { status: 400, title: "Media upload error" },
  131055: { status: 400, title: "Method not allowed", details: "Use SIP for SIP-enabled phone numbers." },
  131056: {
    status: 429,
    title: "(Business Account, Consumer Account) pair rate limit hit",
    details:
      "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
  },
  131057: { status: 503, title: "Account in maintenance mode" },
  132000: { status: 400, title: "Template Param Count Mismatch" },
  132001: { status: 404, title: "Template does not exist" },
  132015: { status: 400, title: "Template is Paused" },
  132016: { status: 400, title: "Template is Disabled" },
  133010: { status: 400, title: "Phone number Not Registered" },
  138000: { status: 401, title: "Calling not enabled" },
  138001: { status: 400, title: "Receiver uncallable" },
  138006: { status: 401, title: "No approved call permission" },
  138015: { status: 400, title: "Calling cannot be enabled", details: "Messaging limit is lower than 2000." },
  138018: { status: 400, title: "Technical prerequisites not met" },
};

/** A documented Graph error body and status, e.g. `graphError(131047)`. Unknown codes get HTTP 400. */
export function graphError(code: number, options: GraphErrorOptions = {}): FakeResponse {
  const spec = GRAPH_ERRORS[code] ?? { status: 400, title: "Error" };
  const graphCode = code === 500 ? 1 : code;
  const error: Record<string, unknown> = {
    message: options.message ?? (spec.plainMessage ? spec.title : `(#${graphCode}) ${spec.title}`),
    type: spec.type ?? "OAuthException",
    code: graphCode,
  };
  const isWhatsAppCode = graphCode === 100 || graphCode === 80007 || graphCode >= 130000;
  const details = options.details ?? spec.details ?? (isWhatsAppCode ? spec.title : undefined);
  if (details !== undefined && (isWhatsAppCode || options.details !== undefined)) {
    error.error_data = { messaging_product: "whatsapp", details };
  }
  if (spec.subcode !== undefined) error.error_subcode = spec.subcode;
  if (spec.transient) error.is_transient = true;
  error.fbtrace_id = fbtraceId();
  return { status: options.status ?? spec.status, body: { error } };
}

/** `sha256=<lowercase hex>` of HMAC-SHA256 over the exact body bytes, as Meta puts in `X-Hub-Signature-256`. */
export function signWebhook(body: string | Uint8Array, appSecret: string): string {
  return `sha256=${createHmac("sha256", appSecret).update(body).digest("hex")}`;
}

/**
 * POSTs a webhook the way Meta does: `Content-Type: application/json` and a valid `X-Hub-Signature-256`
 * over the exact bytes sent. Objects are JSON-encoded; strings/bytes are sent untouched.
 */
export async function deliverWebhook(
  url: string,
  payload: unknown,
  appSecret: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  const body =
    typeof payload === "string" || payload instanceof Uint8Array ? payload : JSON.stringify(payload);
  return fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": signWebhook(body, appSecret),
      ...headers,
    },
    body,
  });
}

const VERSION = /^v\d+\.\d+$/;
const MEDIA_PATH = "/whatsapp_business/attachments/";

/** Documented media types and size limits (WA/business-phone-numbers/media). */
const MEDIA_LIMITS: Array<{ types: string[]; maxBytes: number }> = [
  { types: ["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"], maxBytes: 16 * 1024 * 1024 },
  {
    types: [
      "text/plain",
      "application/pdf",
      "application/msword",
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      "application/vnd.ms-excel",
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
      "application/vnd.ms-powerpoint",
      "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ],
    maxBytes: 100 * 1024 * 1024,
  },
  { types: ["image/jpeg", "image/png"], maxBytes: 5 * 1024 * 1024 },
  { types: ["image/webp"], maxBytes: 500 * 1024 },
  { types: ["video/mp4", "video/3gpp"], maxBytes: 16 * 1024 * 1024 },
];

export class MetaGraphFake extends HttpFake {
  /** Every accepted `POST /{phone-id}/messages` that sent a message (not mark-as-read), oldest first. */
  readonly sentMessages: SentMessage[] = [];
  /** Accepted mark-as-read / typing-indicator calls. */
  readonly readReceipts: ReadReceipt[] = [];
  /** Accepted `POST /{phone-id}/media` uploads. */
  readonly uploads: UploadedMedia[] = [];
  /** Every accepted `POST /{phone-id}/settings` body, in order. */
  readonly settingsPosts: Array<{ phoneId: string; body: unknown; at: number }> = [];
  readonly appId: string;
  readonly appName: string;
  readonly #tokens = new Map<string, MetaTokenScope>();
  readonly #templates = new Map<string, unknown[]>();
  readonly #media = new Map<string, StoredMedia>();
  readonly #subscriptions = new Map<string, Subscription[]>();
  readonly #calling = new Map<string, CallingState>();
  readonly #mediaUrlTtlMs: number;
  readonly #pageSize: number;
  readonly #urlKey = randomBytes(16);
  #counter = 0;

  constructor(options: MetaGraphFakeOptions = {}) {
    super(undefined, options);
    this.appId = options.appId ?? "670843887433847";
    this.appName = options.appName ?? "separator-waba test app";
    this.#mediaUrlTtlMs = (options.mediaUrlTtlSeconds ?? 300) * 1000;
    this.#pageSize = options.defaultPageSize ?? 25;
  }

  /** Accept `token` as a bearer token; any other token gets HTTP 401 with the code-190 body. */
  addToken(token: string, scope: MetaTokenScope = {}): void {
    this.#tokens.set(token, scope);
  }

  /** Make a token invalid from now on (an expired temporary token). */
  revokeToken(token: string): void {
    this.#tokens.delete(token);
  }

  /** Templates returned by `GET /{waba-id}/message_templates`, in order (objects shaped like Meta's). */
  setTemplates(wabaId: string, templates: unknown[]): void {
    this.#templates.set(wabaId, [...templates]);
  }

  /** Media that `GET /{media-id}` describes and the download URL serves. */
  addMedia(mediaId: string, media: MediaInput): StoredMedia {
    const stored: StoredMedia = { ...media, id: mediaId, sha256: sha256Base64(media.bytes) };
    this.#media.set(mediaId, stored);
    return stored;
  }

  media(mediaId: string): StoredMedia | undefined {
    return this.#media.get(mediaId);
  }

  /** Apps subscribed to the WABA (via `POST /{waba-id}/subscribed_apps`). */
  subscriptions(wabaId: string): Subscription[] {
    return this.#subscriptions.get(wabaId) ?? [];
  }

  /** The stored `calling` object of a phone number (what `GET /{phone-id}/settings` reports), if any. */
  callingSettings(phoneId: string): Record<string, unknown> | undefined {
    const state = this.#calling.get(phoneId);
    return state ? this.#callingView(state, true) : undefined;
  }

  /** Messages sent from a phone number to one recipient (`to` compared on digits only). */
  messagesTo(to: string, phoneId?: string): SentMessage[] {
    const digits = to.replace(/\D/g, "");
    return this.sentMessages.filter(
      (m) =>
        m.to !== "" && m.to.replace(/\D/g, "") === digits && (phoneId === undefined || m.phoneId === phoneId),
    );
  }

  /** Messages sent to a business-scoped user id alone (`recipient`, no `to`). */
  messagesToRecipient(bsuid: string): SentMessage[] {
    return this.sentMessages.filter((m) => m.to === "" && m.recipient === bsuid);
  }

  /**
   * The next `times` (default 1) requests matching `match` fail with the documented Graph error `code`
   * (190, 100, 130429, 131056, 131047, 131026, 131000, 500 for a bare server error, …).
   */
  failNext(match: RequestMatcher, code: number, options: GraphErrorOptions = {}): void {
    this.inject({ match, times: options.times ?? 1, response: graphError(code, options) });
  }

  override reset(): void {
    super.reset();
    this.sentMessages.length = 0;
    this.readReceipts.length = 0;
    this.uploads.length = 0;
    this.settingsPosts.length = 0;
  }

  protected override async handle(req: RecordedRequest): Promise<FakeResponse> {
    if (req.path === MEDIA_PATH || req.path === MEDIA_PATH.slice(0, -1)) return this.#download(req);

    const segments = req.path.split("/").filter(Boolean);
    const [version, id, edge, ...rest] = segments;
    if (!version || !VERSION.test(version) || !id || rest.length > 0) return unknownPath(req.path);

    const token = bearer(req);
    const scope = token === undefined ? undefined : this.#tokens.get(token);
    if (token === undefined || scope === undefined) return graphError(190);

    const method = req.method.toUpperCase();
    if (edge === undefined) {
      if (method === "GET") return this.#getMedia(req, id);
      if (method === "DELETE") return this.#deleteMedia(id);
      return unknownPath(req.path);
    }

    switch (edge) {
      case "subscribed_apps":
        if (!allowed(scope.wabaIds, id)) return noObject(id, method);
        return this.#subscribedApps(req, method, id);
      case "message_templates":
        if (!allowed(scope.wabaIds, id)) return noObject(id, method);
        if (method !== "GET") return unknownPath(req.path);
        return this.#listTemplates(req, id);
      case "messages":
        if (!allowed(scope.phoneIds, id)) return noObject(id, method);
        if (method !== "POST") return unknownPath(req.path);
        return this.#sendMessage(req, id, token);
      case "media":
        if (!allowed(scope.phoneIds, id)) return noObject(id, method);
        if (method !== "POST") return unknownPath(req.path);
        return this.#upload(req, id);
      case "settings":
        if (!allowed(scope.phoneIds, id)) return noObject(id, method);
        if (method === "POST") return this.#postSettings(req, id);
        if (method === "GET") return this.#getSettings(req, id);
        return unknownPath(req.path);
      default:
        return unknownPath(req.path);
    }
  }

  // Meta WhatsApp "subscribed_apps" (fixtures subscribed_apps_*; meta-whatsapp.md §7.2).
  #subscribedApps(req: RecordedRequest, method: string, wabaId: string): FakeResponse {
    const list = this.#subscriptions.get(wabaId) ?? [];
    if (method === "GET") {
      return {
        status: 200,
        body: {
          data: list.map((s) => ({
            whatsapp_business_api_data: {
              id: s.appId,
              link: `https://www.facebook.com/games/?app_id=${s.appId}`,
              name: this.appName,
            },
            ...(s.overrideCallbackUri ? { override_callback_uri: s.overrideCallbackUri } : {}),
          })),
        },
      };
    }
    if (method === "DELETE") {
      this.#subscriptions.set(
        wabaId,
        list.filter((s) => s.appId !== this.appId),
      );
      return { status: 200, body: { success: true } };
    }
    if (method !== "POST") return unknownPath(req.path);
    const params = bodyParams(req);
    const override = params.override_callback_uri;
    const verifyToken = params.verify_token;
    if (override !== undefined) {
      if (typeof override !== "string" || override.length > 200 || !/^https?:\/\//.test(override)) {
        return graphError(100, {
          details: "override_callback_uri must be a valid URL of at most 200 characters",
        });
      }
      if (typeof verifyToken !== "string" || verifyToken === "") {
        return graphError(100, { details: "The parameter verify_token is required." });
      }
    }
    // Re-subscribing without a body removes a previous override (WA/webhooks/override).
    const subscription: Subscription = { appId: this.appId, at: this.now() };
    if (typeof override === "string") subscription.overrideCallbackUri = override;
    if (typeof verifyToken === "string") subscription.verifyToken = verifyToken;
    this.#subscriptions.set(wabaId, [...list.filter((s) => s.appId !== this.appId), subscription]);
    return { status: 200, body: { success: true } };
  }

  // Meta "message_templates" listing with cursor paging (fixture message_templates_list_response; §7.4).
  #listTemplates(req: RecordedRequest, wabaId: string): FakeResponse {
    let all = this.#templates.get(wabaId) ?? [];
    const { name, status } = req.query;
    if (name) all = all.filter((t) => field(t, "name") === name);
    if (status) all = all.filter((t) => String(field(t, "status")).toUpperCase() === status.toUpperCase());

    const limit = clampLimit(req.query.limit, this.#pageSize);
    if (limit === undefined) return graphError(100, { details: "limit must be a positive integer" });
    let start = 0;
    if (req.query.after !== undefined) {
      const after = decodeCursor(req.query.after);
      if (after === undefined) return graphError(100, { details: "Invalid cursor" });
      start = after + 1;
    } else if (req.query.before !== undefined) {
      const before = decodeCursor(req.query.before);
      if (before === undefined) return graphError(100, { details: "Invalid cursor" });
      start = Math.max(0, before - limit);
    }
    const page = all.slice(start, start + limit);
    if (page.length === 0) return { status: 200, body: { data: [] } };

    const last = start + page.length - 1;
    const paging: Record<string, unknown> = {
      cursors: { before: encodeCursor(start), after: encodeCursor(last) },
    };
    const base = `${this.url}${req.path}`;
    const carried = { ...req.query };
    delete carried.after;
    delete carried.before;
    if (last < all.length - 1) {
      paging.next = `${base}?${new URLSearchParams({ ...carried, limit: String(limit), after: encodeCursor(last) })}`;
    }
    if (start > 0) {
      paging.previous = `${base}?${new URLSearchParams({ ...carried, limit: String(limit), before: encodeCursor(start) })}`;
    }
    return { status: 200, body: { data: page, paging } };
  }

  // Meta "send-messages" (fixtures send_*, send_message_response; meta-whatsapp.md §4).
  #sendMessage(req: RecordedRequest, phoneId: string, token: string): FakeResponse {
    const body = req.json;
    if (!isRecord(body)) return graphError(100, { details: "The request body must be a JSON object." });
    const product = body.messaging_product;
    if (product === undefined)
      return graphError(100, { message: "(#100) The parameter messaging_product is required." });
    if (product !== "whatsapp") {
      return graphError(100, {
        message: `(#100) Param messaging_product must be one of {WHATSAPP} - got "${String(product)}".`,
      });
    }

    if (body.status === "read") {
      if (typeof body.message_id !== "string" || body.message_id === "") {
        return graphError(100, { message: "(#100) The parameter message_id is required." });
      }
      const receipt: ReadReceipt = { phoneId, messageId: body.message_id, at: this.now() };
      if (body.typing_indicator !== undefined) receipt.typingIndicator = body.typing_indicator;
      this.readReceipts.push(receipt);
      return { status: 200, body: { success: true } };
    }

    // Since 2026 a send may name the customer by BSUID in `recipient` instead of (or with) `to`; `to`
    // wins when both are present, and the response names a BSUID in `contacts[].user_id` instead of
    // `wa_id` (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
    // and https://dualhook.com/docs/contacts-bsuid-api-changes).
    const to = typeof body.to === "string" && body.to.trim() !== "" ? body.to : undefined;
    const recipient =
      typeof body.recipient === "string" && body.recipient.trim() !== "" ? body.recipient : undefined;
    if (to === undefined && recipient === undefined) {
      return graphError(100, { message: "(#100) The parameter to is required." });
    }
    const type = typeof body.type === "string" ? body.type : "text";
    if (body[type] === undefined) {
      return graphError(100, { message: `(#100) The parameter ${type} is required.` });
    }
    if (type === "text") {
      const text = body.text;
      if (!isRecord(text) || typeof text.body !== "string" || text.body === "") {
        return graphError(100, { message: "(#100) The parameter text['body'] is required." });
      }
      if (text.body.length > 4096) {
        return graphError(100, { details: "Message text is longer than 4096 characters." });
      }
    }

    const wamid = this.#nextWamid(to ?? (recipient as string));
    this.sentMessages.push({
      phoneId,
      wamid,
      to: to ?? "",
      ...(recipient !== undefined ? { recipient } : {}),
      type,
      body,
      token,
      at: this.now(),
    });
    const message: Record<string, unknown> = { id: wamid };
    if (type === "template") message.message_status = "accepted";
    return {
      status: 200,
      body: {
        messaging_product: "whatsapp",
        contacts: [
          to !== undefined
            ? { input: to, wa_id: to.replace(/\D/g, "") }
            : { input: recipient, user_id: recipient },
        ],
        messages: [message],
      },
    };
  }

  // Meta "Media" retrieve-URL answer (fixture media_get_url_response; meta-whatsapp.md §3).
  #getMedia(req: RecordedRequest, mediaId: string): FakeResponse {
    const media = this.#media.get(mediaId);
    if (!media) return noObject(mediaId, "GET");
    const phone = req.query.phone_number_id;
    if (phone && media.phoneId && phone !== media.phoneId) {
      return graphError(100, { details: `Media ${mediaId} does not belong to phone number ${phone}` });
    }
    return {
      status: 200,
      body: {
        file_size: String(media.bytes.length),
        id: media.id,
        messaging_product: "whatsapp",
        mime_type: media.mimeType,
        sha256: media.sha256,
        url: this.#downloadUrl(mediaId),
      },
    };
  }

  #deleteMedia(mediaId: string): FakeResponse {
    if (!this.#media.delete(mediaId)) return noObject(mediaId, "DELETE");
    return { status: 200, body: { success: true } };
  }

  #downloadUrl(mediaId: string): string {
    const ext = String(Math.floor(this.now() / 1000));
    const hash = this.#urlHash(mediaId, ext);
    return `${this.url}${MEDIA_PATH}?${new URLSearchParams({ mid: mediaId, ext, hash })}`;
  }

  #urlHash(mediaId: string, ext: string): string {
    return createHmac("sha256", this.#urlKey).update(`${mediaId}:${ext}`).digest("base64url").slice(0, 22);
  }

  #download(req: RecordedRequest): FakeResponse {
    const token = bearer(req);
    if (token === undefined || !this.#tokens.has(token)) return graphError(190);
    const { mid, ext, hash } = req.query;
    const media = mid === undefined ? undefined : this.#media.get(mid);
    const issuedMs = Number(ext) * 1000;
    if (
      !media ||
      mid === undefined ||
      ext === undefined ||
      hash !== this.#urlHash(mid, ext) ||
      !Number.isFinite(issuedMs) ||
      this.now() - issuedMs > this.#mediaUrlTtlMs
    ) {
      // Docs: a 404 means "get a new URL and retry".
      return { status: 404, body: "Not Found" };
    }
    const headers: Record<string, string> = {
      "content-type": media.mimeType,
      "content-length": String(media.bytes.length),
    };
    if (media.fileName) headers["content-disposition"] = `attachment; filename="${media.fileName}"`;
    return { status: 200, body: media.bytes, headers };
  }

  async #upload(req: RecordedRequest, phoneId: string): Promise<FakeResponse> {
    const contentType = req.headers["content-type"] ?? "";
    if (!contentType.toLowerCase().startsWith("multipart/form-data")) {
      return graphError(100, { details: "Uploads must be multipart/form-data." });
    }
    let form: FormData;
    try {
      form = await new Response(req.bodyBytes, { headers: { "content-type": contentType } }).formData();
    } catch {
      return graphError(100, { details: "Malformed multipart body." });
    }
    if (form.get("messaging_product") !== "whatsapp") {
      return graphError(100, { message: "(#100) The parameter messaging_product is required." });
    }
    const file = form.get("file");
    if (!(file instanceof Blob))
      return graphError(100, { message: "(#100) The parameter file is required." });
    const typeField = form.get("type");
    const mimeType = (
      typeof typeField === "string" && typeField !== "" ? typeField : file.type
    ).toLowerCase();
    if (mimeType === "") return graphError(100, { message: "(#100) The parameter type is required." });
    const limit = MEDIA_LIMITS.find((l) => l.types.includes(mimeType.split(";")[0]?.trim() ?? ""));
    if (!limit) return graphError(131053, { details: `Unsupported file type ${mimeType}` });
    const bytes = Buffer.from(await file.arrayBuffer());
    if (bytes.length > limit.maxBytes) {
      return graphError(131053, { details: `File is larger than ${limit.maxBytes} bytes` });
    }

    const mediaId = this.#nextNumericId();
    const input: MediaInput = { mimeType, bytes, phoneId };
    if (file instanceof File && file.name) input.fileName = file.name;
    const stored = this.addMedia(mediaId, input);
    this.uploads.push({ ...stored, phoneId, at: this.now() });
    return { status: 200, body: { id: mediaId } };
  }

  // Meta Calling "settings" (fixtures calling_settings_*; meta-whatsapp.md §6.1).
  #postSettings(req: RecordedRequest, phoneId: string): FakeResponse {
    const body = req.json ?? req.form;
    if (!isRecord(body) || !isRecord(body.calling)) {
      return graphError(100, { message: "(#100) The parameter calling is required." });
    }
    const incoming = body.calling;
    const state = this.#calling.get(phoneId) ?? { calling: {}, servers: [], password: undefined };
    for (const [key, value] of Object.entries(incoming)) {
      if (key !== "sip") state.calling[key] = value;
    }
    if (incoming.sip !== undefined) {
      if (!isRecord(incoming.sip)) return graphError(100, { details: "sip must be an object" });
      const { servers, ...sipRest } = incoming.sip;
      state.calling.sip = { ...(isRecord(state.calling.sip) ? state.calling.sip : {}), ...sipRest };
      if (servers !== undefined) {
        if (!Array.isArray(servers)) return graphError(100, { details: "sip.servers must be an array" });
        const hadServers = state.servers.length > 0;
        state.servers = servers.filter(isRecord).map((s) => ({ ...s }));
        // Clearing the servers drops the Meta-generated SIP password; re-adding them issues a new one.
        if (state.servers.length === 0) state.password = undefined;
        else if (!hadServers || state.password === undefined)
          state.password = randomBytes(12).toString("base64url");
      }
      const sip = state.calling.sip as Record<string, unknown>;
      if (sip.status === "ENABLED" && state.servers.length === 0) {
        return graphError(100, { details: "At least one SIP server is required while SIP is enabled." });
      }
    }
    this.#calling.set(phoneId, state);
    this.settingsPosts.push({ phoneId, body, at: this.now() });
    return { status: 200, body: { success: true } };
  }

  #getSettings(req: RecordedRequest, phoneId: string): FakeResponse {
    const state = this.#calling.get(phoneId) ?? { calling: {}, servers: [], password: undefined };
    const withCredentials = req.query.include_sip_credentials === "true";
    return { status: 200, body: { calling: this.#callingView(state, withCredentials) } };
  }

  #callingView(state: CallingState, withCredentials: boolean): Record<string, unknown> {
    const view: Record<string, unknown> = {
      status: "DISABLED",
      call_icon_visibility: "DEFAULT",
      callback_permission_status: "DISABLED",
      ...state.calling,
    };
    const sip = isRecord(state.calling.sip) ? state.calling.sip : {};
    view.sip = {
      status: "DISABLED",
      ...sip,
      servers: state.servers.map((server) => ({
        app_id: this.appId,
        ...server,
        ...(withCredentials && state.password !== undefined ? { sip_user_password: state.password } : {}),
      })),
    };
    return view;
  }

  #nextWamid(to: string): string {
    this.#counter += 1;
    const inner = `${to.replace(/\D/g, "")}:${this.#counter}:${randomBytes(6).toString("hex").toUpperCase()}`;
    return `wamid.HBgL${Buffer.from(inner).toString("base64")}`;
  }

  #nextNumericId(): string {
    this.#counter += 1;
    return `10${String(Date.now()).slice(-9)}${String(this.#counter).padStart(5, "0")}`;
  }
}

interface CallingState {
  calling: Record<string, unknown>;
  servers: Array<Record<string, unknown>>;
  password: string | undefined;
}

/** Starts a Graph fake. Register tokens with `addToken` before pointing the product at `fake.url`. */
export async function startMetaGraphFake(options: MetaGraphFakeOptions = {}): Promise<MetaGraphFake> {
  return new MetaGraphFake(options).listen();
}

function bearer(req: RecordedRequest): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === "string") {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match?.[1]) return match[1];
  }
  const fromQuery = req.query.access_token;
  if (fromQuery) return fromQuery;
  const fromForm = req.form?.access_token;
  return typeof fromForm === "string" ? fromForm : undefined;
}

function allowed(list: string[] | undefined, id: string): boolean {
  return list === undefined || list.includes(id);
}

function unknownPath(path: string): FakeResponse {
  return {
    status: 400,
    body: {
      error: {
        message: `Unknown path components: ${path}`,
        type: "OAuthException",
        code: 2500,
        fbtrace_id: fbtraceId(),
      },
    },
  };
}

/** Graph's answer for an id the token cannot see or that does not exist. */
function noObject(id: string, method: string): FakeResponse {
  return {
    status: 400,
    body: {
      error: {
        message:
          `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded ` +
          "due to missing permissions, or does not support this operation. Please read the Graph API " +
          "documentation at https://developers.facebook.com/docs/graph-api",
        type: "GraphMethodException",
        code: 100,
        error_subcode: 33,
        fbtrace_id: fbtraceId(),
      },
    },
  };
}

function bodyParams(req: RecordedRequest): Record<string, unknown> {
  if (isRecord(req.json)) return req.json;
  if (req.form) return req.form;
  return {};
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function field(value: unknown, key: string): unknown {
  return isRecord(value) ? value[key] : undefined;
}

function clampLimit(raw: string | undefined, fallback: number): number | undefined {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) return undefined;
  return n;
}

function encodeCursor(index: number): string {
  return Buffer.from(`cursor:${index}`).toString("base64url");
}

function decodeCursor(cursor: string): number | undefined {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  const match = /^cursor:(\d+)$/.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function sha256Base64(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("base64");
}

function fbtraceId(): string {
  return `A${randomBytes(16).toString("base64url").slice(0, 22)}`;
}
