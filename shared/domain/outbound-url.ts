/**
 * URLs taken from requests (Bitrix24's `client_endpoint`, file links) are fetched by us, so they must not
 * point anywhere an attacker likes: HTTPS only, plain HTTP only to loopback and only in the local stack.
 */
export function isAllowedOutboundUrl(raw: string, allowLoopbackHttp: boolean): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && allowLoopbackHttp && isLoopback(url.hostname);
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}
