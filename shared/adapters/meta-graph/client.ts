import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { MetaTemplate } from "../../domain/template-shortcode.ts";
import { GraphApiError } from "../../errors.ts";
import type {
  CallingSettingsRequest,
  GraphTarget,
  MediaInfo,
  MediaUpload,
  MetaGraph,
} from "../../ports/meta-graph.ts";
import {
  BodyTooLargeError,
  type FetchFromOutside,
  type SafeResponse,
  UnsafeUrlError,
} from "../../ports/outbound-fetch.ts";
import { makeSafeFetch } from "../safe-fetch.ts";

export interface GraphClientOptions {
  /** Origin only, e.g. `https://graph.facebook.com`; the version comes from each app. */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  /** Media URLs come from Meta's answers: fetched only where a URL from outside may lead. */
  readonly fromOutside?: FetchFromOutside;
}

const refuseLoopback = makeSafeFetch({ allowLoopback: false });

/** What the template catalog reads of each template (meta-whatsapp.md §7.4). */
const TEMPLATE_FIELDS = "name,language,status,category,components,parameter_format";
/** A WABA holds at most 250 templates (3 pages of 100): more pages than this means a paging loop. */
export const MAX_TEMPLATE_PAGES = 50;

interface GraphErrorBody {
  error?: {
    message?: string;
    type?: string;
    code?: number;
    error_subcode?: number;
    fbtrace_id?: string;
    error_data?: { details?: unknown };
  };
}

/** Meta's Graph API over fetch; every failure becomes a GraphApiError carrying Meta's code. */
export class GraphClient implements MetaGraph {
  readonly #options: GraphClientOptions;

  constructor(options: GraphClientOptions) {
    this.#options = options;
  }

  async subscribeApp(wabaId: string, target: GraphTarget): Promise<void> {
    await this.#call("POST", `/${encodeURIComponent(wabaId)}/subscribed_apps`, target);
  }

  async getMedia(mediaId: string, target: GraphTarget): Promise<MediaInfo> {
    const body = (await this.#call(
      "GET",
      `/${encodeURIComponent(mediaId)}`,
      target,
    )) as Partial<MediaInfo> & {
      mime_type?: string;
      file_size?: string | number;
    };
    if (!body?.url) throw new GraphApiError(502, undefined, `Graph API gave no URL for media ${mediaId}`);
    return {
      url: body.url,
      mimeType: body.mime_type,
      fileSize: body.file_size === undefined ? undefined : Number(body.file_size),
    };
  }

  /**
   * Media URLs need the same bearer token and live about five minutes: fetch right after getMedia. Meta
   * answers media downloads without a User-Agent with an error page instead of the file. The URL comes
   * from Meta's answer, so it is fetched like any URL from outside; the body is handed on as a stream
   * that stops at `maxBytes`.
   */
  async download(
    url: string,
    target: GraphTarget,
    maxBytes: number,
  ): Promise<{ body: Readable; contentType?: string; contentLength?: number }> {
    let response: SafeResponse;
    try {
      response = await (this.#options.fromOutside ?? refuseLoopback)(url, {
        headers: { authorization: `Bearer ${target.accessToken}`, "user-agent": MEDIA_USER_AGENT },
        signal: AbortSignal.timeout(this.#options.timeoutMs * 3),
      });
    } catch (error) {
      if (error instanceof UnsafeUrlError)
        throw new GraphApiError(400, undefined, `media URL refused: ${error.message}`);
      throw new GraphApiError(0, undefined, `media download failed: ${(error as Error).message}`);
    }
    if (response.status < 200 || response.status >= 300) {
      response.discard();
      throw new GraphApiError(response.status, undefined, `media download answered HTTP ${response.status}`);
    }
    const declared = Number(response.headers.get("content-length") ?? Number.NaN);
    if (declared > maxBytes) {
      response.discard();
      throw new GraphApiError(413, undefined, `media larger than ${maxBytes} bytes`);
    }
    return {
      body: response.bodyUpTo(maxBytes),
      contentType: response.headers.get("content-type") ?? undefined,
      contentLength: Number.isFinite(declared) ? declared : undefined,
    };
  }

  /**
   * Every page of the WABA's templates, 100 at a time. `paging.next` is absolute and is sent our bearer
   * token, so it is only followed on the configured Graph origin; a foreign one, or more than
   * MAX_TEMPLATE_PAGES pages, fails the listing rather than returning (and caching) part of it.
   */
  async listTemplates(wabaId: string, target: GraphTarget): Promise<MetaTemplate[]> {
    const query = new URLSearchParams({ limit: "100", fields: TEMPLATE_FIELDS });
    let url: string | undefined =
      `${this.#url(`/${encodeURIComponent(wabaId)}/message_templates`, target)}?${query}`;
    const templates: MetaTemplate[] = [];
    for (let page = 1; url !== undefined; page++) {
      if (page > MAX_TEMPLATE_PAGES) {
        throw new GraphApiError(
          200,
          undefined,
          `Graph API: the templates of WABA ${wabaId} did not end within ${MAX_TEMPLATE_PAGES} pages`,
        );
      }
      const body = (await this.#send("GET", url, target)) as
        | { data?: unknown; paging?: { next?: unknown } }
        | undefined;
      if (!Array.isArray(body?.data)) {
        throw new GraphApiError(200, undefined, `Graph API gave no template list for WABA ${wabaId}`);
      }
      templates.push(...body.data.filter(isTemplate));
      url = nextPageUrl(body.paging?.next, this.#options.baseUrl);
    }
    return templates;
  }

  #url(path: string, target: GraphTarget): string {
    return `${this.#options.baseUrl.replace(/\/+$/, "")}/${target.graphApiVersion}${path}`;
  }

  async sendMessage(phoneId: string, message: Record<string, unknown>, target: GraphTarget): Promise<string> {
    const body = (await this.#call("POST", `/${encodeURIComponent(phoneId)}/messages`, target, {
      messaging_product: "whatsapp",
      recipient_type: "individual",
      ...message,
      ...(typeof message.to === "string" ? { to: withPlus(message.to) } : {}),
    })) as { messages?: { id?: string }[] } | undefined;
    const wamid = body?.messages?.[0]?.id;
    if (!wamid) throw new GraphApiError(502, undefined, "Graph API accepted the message but returned no id");
    return wamid;
  }

  /** The documented mark-as-read body, with `typing_indicator` (send_mark_as_read / send_typing_indicator). */
  async markRead(phoneId: string, wamid: string, typing: boolean, target: GraphTarget): Promise<void> {
    await this.#call("POST", `/${encodeURIComponent(phoneId)}/messages`, target, {
      messaging_product: "whatsapp",
      status: "read",
      message_id: wamid,
      ...(typing ? { typing_indicator: { type: "text" } } : {}),
    });
  }

  async uploadMedia(phoneId: string, file: MediaUpload, target: GraphTarget): Promise<string> {
    const body = (await this.#call(
      "POST",
      `/${encodeURIComponent(phoneId)}/media`,
      target,
      multipartUpload(file),
    )) as { id?: string } | undefined;
    if (!body?.id) throw new GraphApiError(502, undefined, "Graph API stored the file but returned no id");
    return body.id;
  }

  async updateCallingSettings(
    phoneId: string,
    settings: CallingSettingsRequest,
    target: GraphTarget,
  ): Promise<void> {
    await this.#call("POST", `/${encodeURIComponent(phoneId)}/settings`, target, settings);
  }

  async #call(method: string, path: string, target: GraphTarget, body?: unknown): Promise<unknown> {
    return this.#send(method, this.#url(path, target), target, body);
  }

  async #send(method: string, url: string, target: GraphTarget, body?: unknown): Promise<unknown> {
    let response: { status: number; text(): Promise<string> };
    const authorization = `Bearer ${target.accessToken}`;
    try {
      response =
        body instanceof Multipart
          ? // node:http's pipe holds a streamed upload to a few chunks; fetch() buffers far more.
            await (this.#options.fromOutside ?? refuseLoopback)(url, {
              method,
              headers: { authorization, "content-type": body.contentType },
              body: body.stream,
              // An upload of up to 100 MB takes longer than one API call.
              signal: AbortSignal.timeout(this.#options.timeoutMs * 6),
            })
          : await fetch(url, {
              method,
              headers: {
                authorization,
                ...(body === undefined ? {} : { "content-type": "application/json" }),
              },
              body: body === undefined ? undefined : JSON.stringify(body),
              signal: AbortSignal.timeout(this.#options.timeoutMs),
            });
    } catch (error) {
      // A streamed upload whose source passed its cap: the caller's error, not Meta being unreachable.
      if (error instanceof BodyTooLargeError) throw error;
      if (error instanceof UnsafeUrlError)
        throw new GraphApiError(400, undefined, `Graph API URL refused: ${error.message}`);
      throw new GraphApiError(0, undefined, `Graph API unreachable: ${(error as Error).message}`);
    }
    const text = await response.text();
    const parsed = parseJson(text);
    if (response.status >= 200 && response.status < 300) return parsed;
    const err = (parsed as GraphErrorBody | undefined)?.error;
    throw new GraphApiError(
      response.status,
      err?.code,
      err?.message ?? `Graph API answered HTTP ${response.status}`,
      err
        ? {
            code: err.code,
            type: err.type,
            subcode: err.error_subcode,
            fbtraceId: err.fbtrace_id,
            // Meta says to build logic on the code plus these details (meta-whatsapp.md §5.2).
            ...(typeof err.error_data?.details === "string" ? { details: err.error_data.details } : {}),
          }
        : undefined,
    );
  }
}

/**
 * The URL of the next page, or undefined on the last one. Only an absolute http(s) URL on the configured
 * Graph origin (scheme, host and port) is followed: the request carries the WABA's access token, which
 * must never go to another host. Anything else is an error, not the end of the list — a list cut short
 * would be cached as complete. The message names the origin only (Meta's URLs may hold a token).
 */
export function nextPageUrl(next: unknown, baseUrl: string): string | undefined {
  if (next === undefined || next === null || next === "") return undefined;
  const url = typeof next === "string" && URL.canParse(next) ? new URL(next) : undefined;
  if (!url || !/^https?:$/.test(url.protocol)) {
    throw new GraphApiError(200, undefined, "Graph API: paging.next is not an http(s) URL");
  }
  const expected = new URL(baseUrl).origin;
  if (url.origin !== expected) {
    throw new GraphApiError(
      200,
      undefined,
      `Graph API: refusing to follow paging.next to ${url.origin}; pages are only read from ${expected}`,
    );
  }
  return url.href;
}

/** A multipart/form-data body produced as it is sent: the file part streams from its source. */
class Multipart {
  readonly contentType: string;
  readonly stream: Readable;
  constructor(boundary: string, stream: Readable) {
    this.contentType = `multipart/form-data; boundary=${boundary}`;
    this.stream = stream;
  }
}

/**
 * Meta's upload form (meta-whatsapp.md, media: `messaging_product=whatsapp` and `file` with its MIME
 * type; the `type` field as this client always sent it), written by hand so the file is never held
 * whole, as FormData and Blob would.
 */
function multipartUpload(file: MediaUpload): Multipart {
  const boundary = `----separator-waba-${randomBytes(12).toString("hex")}`;
  const field = (name: string, value: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  // As FormData writes names: quotes and line breaks percent-encoded, the rest as UTF-8.
  const safeName = file.fileName.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
  const mime = file.mimeType.replace(/[\r\n]/g, "");
  const head =
    field("messaging_product", "whatsapp") +
    field("type", mime) +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safeName}"\r\n` +
    `Content-Type: ${mime}\r\n\r\n`;
  const source = file.body;
  async function* parts() {
    yield Buffer.from(head, "utf8");
    if (source instanceof Uint8Array) yield source;
    else for await (const chunk of source) yield chunk as Buffer;
    yield Buffer.from(`\r\n--${boundary}--\r\n`, "utf8");
  }
  return new Multipart(boundary, Readable.from(parts(), { objectMode: false }));
}

function isTemplate(value: unknown): value is MetaTemplate {
  const t = value as Partial<MetaTemplate> | null;
  return (
    typeof t === "object" &&
    t !== null &&
    typeof t.name === "string" &&
    typeof t.language === "string" &&
    typeof t.status === "string"
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const MEDIA_USER_AGENT = "separator-waba/1.0";

/**
 * The customer's number in E.164 with `+`: Meta prepends the business number's country code to a number
 * without it, so a bare one can reach someone else. Business-scoped user ids (not digits) pass as they are.
 */
function withPlus(to: string): string {
  const digits = to.replace(/[\s()+-]/g, "");
  return /^\d{6,20}$/.test(digits) ? `+${digits}` : to;
}
