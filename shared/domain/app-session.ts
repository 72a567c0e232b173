import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * A session of the app's page inside Bitrix24: issued once the frame's token was verified at the OAuth
 * server, it lets the page's own forms act for that portal only, for a short while. Bitrix24 opens the
 * page in an iframe of another site, where browsers drop third-party cookies, so the session travels as
 * a signed value in the page's forms rather than as a cookie.
 */
export interface AppSession {
  readonly memberId: string;
  readonly scope: AppSessionScope;
  /** Epoch seconds after which the session is refused. */
  readonly expiresAt: number;
}

/**
 * What the session was issued for: the numbers page's (a portal administrator's) or the template picker's
 * (any operator's). Each page reads only its own, so an operator's picker session never saves settings.
 */
export type AppSessionScope = "numbers" | "picker";

/** Long enough to fill a form, short enough that a leaked page is soon worthless. */
export const APP_SESSION_SECONDS = 15 * 60;

/** The signing key: derived from the deployment's encryption key, so no new secret is needed. */
export function appSessionKey(encryptionKey: string): Buffer {
  return createHmac("sha256", encryptionKey).update("bitrix-app-session/v1").digest();
}

const sign = (key: Buffer, payload: string) => createHmac("sha256", key).update(payload).digest("base64url");

export function issueAppSession(
  key: Buffer,
  scope: AppSessionScope,
  memberId: string,
  nowSeconds: number,
): string {
  const claims = { s: scope, m: memberId, e: nowSeconds + APP_SESSION_SECONDS };
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  return `${payload}.${sign(key, payload)}`;
}

/** The session a token stands for, or undefined when it is forged, altered, expired or of another scope. */
export function readAppSession(
  key: Buffer,
  scope: AppSessionScope,
  token: string,
  nowSeconds: number,
): AppSession | undefined {
  const [payload, signature, extra] = token.split(".");
  if (!payload || !signature || extra !== undefined) return undefined;
  const expected = Buffer.from(sign(key, payload));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
  try {
    const { s, m, e } = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as {
      s?: unknown;
      m?: unknown;
      e?: unknown;
    };
    if (s !== scope || typeof m !== "string" || !m || typeof e !== "number" || e <= nowSeconds)
      return undefined;
    return { memberId: m, scope, expiresAt: e };
  } catch {
    return undefined;
  }
}
