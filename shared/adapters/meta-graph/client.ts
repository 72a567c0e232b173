import { GraphApiError } from "../../errors.ts";
import type { GraphTarget, MediaInfo, MetaGraph } from "../../ports/meta-graph.ts";

export interface GraphClientOptions {
  /** Origin only, e.g. `https://graph.facebook.com`; the version comes from each app. */
  readonly baseUrl: string;
  readonly timeoutMs: number;
}

interface GraphErrorBody {
  error?: { message?: string; type?: string; code?: number; error_subcode?: number; fbtrace_id?: string };
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

  /** Media URLs need the same bearer token and live about five minutes: fetch right after getMedia. */
  async download(
    url: string,
    target: GraphTarget,
    maxBytes: number,
  ): Promise<{ bytes: Buffer; contentType?: string }> {
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { authorization: `Bearer ${target.accessToken}` },
        signal: AbortSignal.timeout(this.#options.timeoutMs * 3),
      });
    } catch (error) {
      throw new GraphApiError(0, undefined, `media download failed: ${(error as Error).message}`);
    }
    if (!response.ok)
      throw new GraphApiError(response.status, undefined, `media download answered HTTP ${response.status}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    if (bytes.length > maxBytes)
      throw new GraphApiError(413, undefined, `media larger than ${maxBytes} bytes`);
    return { bytes, contentType: response.headers.get("content-type") ?? undefined };
  }

  async #call(method: string, path: string, target: GraphTarget, body?: unknown): Promise<unknown> {
    const url = `${this.#options.baseUrl.replace(/\/+$/, "")}/${target.graphApiVersion}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${target.accessToken}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#options.timeoutMs),
      });
    } catch (error) {
      throw new GraphApiError(0, undefined, `Graph API unreachable: ${(error as Error).message}`);
    }
    const text = await response.text();
    const parsed = parseJson(text);
    if (response.ok) return parsed;
    const err = (parsed as GraphErrorBody | undefined)?.error;
    throw new GraphApiError(
      response.status,
      err?.code,
      err?.message ?? `Graph API answered HTTP ${response.status}`,
      err ? { type: err.type, subcode: err.error_subcode, fbtraceId: err.fbtrace_id } : undefined,
    );
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
