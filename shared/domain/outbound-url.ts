import { isIP } from "node:net";
import { isLoopbackAddress, isNumericFormHost, isPublicAddress } from "./address-ranges.ts";

/**
 * URLs taken from requests (Bitrix24's `client_endpoint`, file links) are fetched by us, so they must not
 * point anywhere an attacker likes: HTTPS only, plain HTTP only to loopback and only in the local stack.
 * This is the check of what is written; the fetch itself (adapters/safe-fetch.ts) also checks where the
 * name resolves to, and connects only there.
 */
export function isAllowedOutboundUrl(raw: string, allowLoopbackHttp: boolean): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (isNumericFormHost(raw, url.hostname)) return false;
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const loopback = host === "localhost" || isLoopbackAddress(host);
  if (isIP(host) && !isPublicAddress(host) && !(allowLoopbackHttp && loopback)) return false;
  if (host === "localhost" && !allowLoopbackHttp) return false;
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && allowLoopbackHttp && loopback;
}
