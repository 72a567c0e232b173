import { BitrixApiError } from "../../errors.ts";
import type { BitrixAppInfo, BitrixOAuth } from "../../ports/bitrix.ts";
import type { FetchFromOutside } from "../../ports/outbound-fetch.ts";
import { bitrixFetch, errorOf } from "./http.ts";

/**
 * The Bitrix24 OAuth servers (west `oauth.bitrix.info`, east `oauth.bitrix24.tech`, or a fake): token
 * refresh at `{server}/oauth/token/` and token verification at `{server}/rest/app.info`. Callers pass a
 * server from the trusted list (`BITRIX_OAUTH_URLS`), never one taken from a request unchecked.
 */
export class BitrixOAuthClient implements BitrixOAuth {
  readonly #timeoutMs: number;
  readonly #fromOutside: FetchFromOutside | undefined;

  /** `fromOutside` checks the portal's own endpoint (`user.admin`) the way every URL from outside is. */
  constructor(timeoutMs: number, fromOutside?: FetchFromOutside) {
    this.#timeoutMs = timeoutMs;
    this.#fromOutside = fromOutside;
  }

  async appInfo(server: string, accessToken: string): Promise<BitrixAppInfo> {
    const { status, body } = await bitrixFetch(
      `${base(server)}/rest/app.info?auth=${encodeURIComponent(accessToken)}`,
      { headers: { accept: "application/json" } },
      this.#timeoutMs,
    );
    const result = (body as { result?: Record<string, unknown> } | undefined)?.result;
    if (status !== 200 || !result) throw errorOf(status, body);
    const clientId = result.client_id;
    if (typeof clientId !== "string" || !clientId) {
      throw new BitrixApiError(status, "NO_CLIENT_ID", "app.info did not name the application");
    }
    // The portal is named only inside `install` (b24pysdk's B24AppInfoInstallData); the top level
    // carries the token's client, scope, expiry and user.
    const install = (result.install ?? {}) as Record<string, unknown>;
    const expires = Number(result.expires);
    const userId = Number(result.user_id);
    return {
      clientId,
      memberId: stringOf(install.member_id),
      domain: stringOf(install.domain),
      clientEndpoint: stringOf(install.client_endpoint),
      installed: typeof install.installed === "boolean" ? install.installed : undefined,
      userId: Number.isInteger(userId) && userId > 0 ? userId : undefined,
      expiresAt: Number.isFinite(expires) && expires > 1e9 ? Math.floor(expires) : undefined,
    };
  }

  async portalLicense(clientEndpoint: string, accessToken: string): Promise<{ licenseFamily?: string }> {
    const result = await this.#portalCall<Record<string, unknown>>(clientEndpoint, "app.info", accessToken);
    return { licenseFamily: stringOf(result?.LICENSE_FAMILY) };
  }

  async isAdmin(clientEndpoint: string, accessToken: string): Promise<boolean> {
    return (await this.#portalCall(clientEndpoint, "user.admin", accessToken)) === true;
  }

  async #portalCall<T>(clientEndpoint: string, method: string, accessToken: string): Promise<T | undefined> {
    const { status, body } = await bitrixFetch(
      `${clientEndpoint}${method}`,
      {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ auth: accessToken }),
      },
      this.#timeoutMs,
      this.#fromOutside,
    );
    if (status !== 200) throw errorOf(status, body);
    return (body as { result?: T } | undefined)?.result;
  }

  async refresh(server: string, clientId: string, clientSecret: string, refreshToken: string) {
    const query = new URLSearchParams({
      grant_type: "refresh_token",
      client_id: clientId,
      client_secret: clientSecret,
      refresh_token: refreshToken,
    });
    const { status, body } = await bitrixFetch(
      `${base(server)}/oauth/token/?${query}`,
      { headers: { accept: "application/json" } },
      this.#timeoutMs,
    );
    const b = (body ?? {}) as {
      access_token?: unknown;
      refresh_token?: unknown;
      expires_in?: unknown;
      member_id?: unknown;
      client_endpoint?: unknown;
    };
    if (status !== 200 || typeof b.access_token !== "string" || typeof b.refresh_token !== "string") {
      throw errorOf(status, body);
    }
    return {
      accessToken: b.access_token,
      refreshToken: b.refresh_token,
      expiresIn: Number(b.expires_in ?? 3600),
      memberId: stringOf(b.member_id),
      clientEndpoint: stringOf(b.client_endpoint),
    };
  }
}

function base(server: string): string {
  return server.replace(/\/+$/, "");
}

function stringOf(value: unknown): string | undefined {
  return typeof value === "string" && value ? value : undefined;
}
