import { lookup as dnsLookup } from "node:dns/promises";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { Readable, Transform } from "node:stream";
import { isLoopbackAddress, isNumericFormHost, isPublicAddress } from "../domain/address-ranges.ts";
import {
  BodyTooLargeError,
  type FetchFromOutside,
  type SafeRequest,
  type SafeResponse,
  UnsafeUrlError,
} from "../ports/outbound-fetch.ts";

export { BodyTooLargeError, UnsafeUrlError };

/**
 * Fetching URLs that come from outside (operator file links, Bitrix24's `client_endpoint`, media URLs
 * and every redirect they lead to) without letting them reach inside: the name is resolved first, every
 * address checked, and the connection made to the address that was checked — a second DNS answer
 * (rebinding) is never asked for. Redirects are followed by hand, each hop checked again.
 */
export interface OutboundPolicy {
  /** Loopback (and plain HTTP to it) is allowed only in the local stack; a Lambda never allows it. */
  readonly allowLoopback: boolean;
  /** Name resolution; tests give a resolver of their own. */
  readonly resolve?: (hostname: string) => Promise<{ address: string; family: number }[]>;
}

const DEFAULT_MAX_REDIRECTS = 3;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const agents = {
  "http:": new http.Agent({ keepAlive: true }),
  "https:": new https.Agent({ keepAlive: true }),
};

/**
 * The address a URL may be fetched at, or UnsafeUrlError: HTTPS (plain HTTP only to loopback, only when
 * loopback is allowed), no credentials in the URL, no numeric-form host, and every address the name
 * resolves to public (or loopback, when allowed).
 */
export async function checkOutboundUrl(
  raw: string,
  policy: OutboundPolicy,
): Promise<{ url: URL; address: string; family: 4 | 6 }> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UnsafeUrlError("not a URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new UnsafeUrlError("not an https URL");
  if (url.username || url.password) throw new UnsafeUrlError("a URL with credentials");
  if (isNumericFormHost(raw, url.hostname)) throw new UnsafeUrlError("a numeric host in an unusual form");
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const addresses = isIP(hostname)
    ? [{ address: hostname, family: isIP(hostname) }]
    : await resolveAll(hostname, policy);
  const first = addresses[0];
  if (!first) throw new UnsafeUrlError(`${hostname} does not resolve`);
  const allowed = (address: string) =>
    isPublicAddress(address) || (policy.allowLoopback && isLoopbackAddress(address));
  // Every answer must pass: a name that also points inside is refused, whichever answer we would use.
  if (!addresses.every((a) => allowed(a.address))) {
    throw new UnsafeUrlError(`${url.host} leads to an address that is not public`);
  }
  if (
    url.protocol === "http:" &&
    !addresses.every((a) => policy.allowLoopback && isLoopbackAddress(a.address))
  ) {
    throw new UnsafeUrlError("not an https URL");
  }
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}

async function resolveAll(hostname: string, policy: OutboundPolicy) {
  try {
    return await (policy.resolve ?? ((h) => dnsLookup(h, { all: true, verbatim: true })))(hostname);
  } catch {
    throw new UnsafeUrlError(`${hostname} does not resolve`);
  }
}

/** A FetchFromOutside bound to a policy. */
export function makeSafeFetch(policy: OutboundPolicy): FetchFromOutside {
  return (url, init) => safeFetch(url, init, policy);
}

/** fetch() for URLs from outside: see OutboundPolicy. The body is a stream, never buffered here. */
export async function safeFetch(
  raw: string,
  init: SafeRequest,
  policy: OutboundPolicy,
): Promise<SafeResponse> {
  const method = (init.method ?? "GET").toUpperCase();
  const maxRedirects = method === "GET" ? (init.maxRedirects ?? DEFAULT_MAX_REDIRECTS) : 0;
  let current = raw;
  let headers = { ...(init.headers ?? {}) };
  for (let hop = 0; ; hop++) {
    const target = await checkOutboundUrl(current, policy);
    const response = await exchange(target, { ...init, method, headers });
    const location = response.headers.get("location");
    if (!REDIRECTS.has(response.status) || !location || maxRedirects === 0) return response;
    response.discard();
    if (hop >= maxRedirects) throw new UnsafeUrlError(`more than ${maxRedirects} redirects`);
    const next = new URL(location, target.url);
    if (next.host !== target.url.host && isNumericFormHost(asWritten(location, target.url), next.hostname)) {
      throw new UnsafeUrlError("a redirect to a numeric host in an unusual form");
    }
    // A credential given for one origin never follows a redirect to another.
    if (next.origin !== target.url.origin) headers = withoutAuthorization(headers);
    current = next.href;
  }
}

/** A Location leading to another host, written out with its scheme, so its host can be read as given. */
function asWritten(location: string, base: URL): string {
  if (/^[a-z][a-z\d+.-]*:/i.test(location)) return location;
  // Scheme-relative (`//host`, and the backslash forms WHATWG parsing treats alike).
  return `${base.protocol}//${location.replace(/^[\\/]+/, "")}`;
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
}

function exchange(
  target: { url: URL; address: string; family: 4 | 6 },
  init: SafeRequest & { method: string; headers: Record<string, string> },
): Promise<SafeResponse> {
  const { url } = target;
  // The checked address is the only answer the connection ever gets.
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all)
      callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  return new Promise<SafeResponse>((resolve, reject) => {
    const request = (url.protocol === "https:" ? https : http).request(
      {
        protocol: url.protocol,
        host: hostname,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: init.method,
        headers: init.headers,
        agent: agents[url.protocol as "http:" | "https:"],
        lookup: pinned,
        servername: isIP(hostname) ? undefined : hostname,
        signal: init.signal,
      },
      (res) => resolve(toResponse(res, url.href)),
    );
    request.on("error", reject);
    const { body } = init;
    if (body instanceof Readable) {
      body.on("error", (error) => request.destroy(error));
      body.pipe(request);
    } else request.end(body);
  });
}

function toResponse(res: IncomingMessage, url: string): SafeResponse {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return {
    status: res.statusCode ?? 0,
    headers,
    url,
    body: res,
    bodyUpTo: (maxBytes) => capped(res, maxBytes),
    async text(maxBytes = 16 * 1024 * 1024) {
      const chunks: Buffer[] = [];
      for await (const chunk of capped(res, maxBytes)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    discard() {
      res.resume();
    },
  };
}

/**
 * The stream's bytes up to `maxBytes`; one byte more fails it with BodyTooLargeError and stops the
 * source, so nothing past the cap is read.
 */
export function capped(source: Readable, maxBytes: number): Readable {
  const cap = capBytes(maxBytes);
  source.on("error", (error) => cap.destroy(error));
  cap.on("error", () => source.destroy());
  return source.pipe(cap);
}

function capBytes(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > maxBytes) callback(new BodyTooLargeError(maxBytes));
      else callback(null, chunk);
    },
  });
}
