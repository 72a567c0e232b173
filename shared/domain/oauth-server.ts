/**
 * Which of our trusted Bitrix24 OAuth servers a portal's `server_endpoint` names. Bitrix24 gives it as the
 * server's REST base (`https://oauth.bitrix.info/rest/`); token refresh lives beside it at `/oauth/token/`.
 * Anything not on the list is refused: the server we ask decides whether a token is genuine.
 */
export function trustedOAuthServer(serverEndpoint: string, trusted: readonly string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(serverEndpoint);
  } catch {
    return undefined;
  }
  if (url.username || url.password || url.search || url.hash) return undefined;
  const base = `${url.origin}${url.pathname.replace(/\/+$/, "").replace(/\/rest$/, "")}`;
  return trusted.find((server) => server.replace(/\/+$/, "").toLowerCase() === base.toLowerCase());
}
