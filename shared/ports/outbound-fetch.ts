import type { Readable } from "node:stream";

/**
 * Fetching a URL that came from outside (an operator's file link, Bitrix24's `client_endpoint`, a media
 * URL, and the redirects they lead to). The adapter (adapters/safe-fetch.ts) refuses what leads inside.
 */
export type FetchFromOutside = (url: string, init: SafeRequest) => Promise<SafeResponse>;

export interface SafeRequest {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array | Readable;
  /** Covers the whole exchange, body included. */
  readonly signal?: AbortSignal;
  /** GET only: how many redirects are followed (default 3); 0 returns a redirect as it is. */
  readonly maxRedirects?: number;
}

export interface SafeResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The URL that answered, after redirects. */
  readonly url: string;
  /** The body as it arrives; read it (or `bodyUpTo`, `text`), or call `discard()`. */
  readonly body: Readable;
  /** The body, failing with BodyTooLargeError (and stopping the transfer) one byte past `maxBytes`. */
  bodyUpTo(maxBytes: number): Readable;
  text(maxBytes?: number): Promise<string>;
  discard(): void;
}

/** A URL we may not fetch: not retried, the caller says so to whoever gave it. */
export class UnsafeUrlError extends Error {
  override readonly name = "UnsafeUrlError";
}

/** A body longer than the caller's cap: the transfer is aborted at the cap. */
export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(`the body is larger than ${maxBytes} bytes`);
    this.maxBytes = maxBytes;
  }
}
