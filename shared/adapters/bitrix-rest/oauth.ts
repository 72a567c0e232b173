import { BitrixApiError } from "../../errors.ts";
import type { BitrixAppInfo, BitrixOAuth } from "../../ports/bitrix.ts";
import { bitrixFetch, errorOf } from "./http.ts";

/**
 * The Bitrix24 OAuth server (`BITRIX_OAUTH_URL`): token refresh at `/oauth/token/` and install
 * verification at `/rest/app.info` — always this server, never an endpoint named in the request.
 */
export class BitrixOAuthClient implements BitrixOAuth {
  readonly #base: string;
  readonly #timeoutMs: number;

  constructor(baseUrl: string, timeoutMs: number) {
    this.#base = baseUrl.replace(/\/+$/, "");
    this.#timeoutMs = timeoutMs;
  }

  async appInfo(accessToken: string): Promise<BitrixAppInfo> {
    const { status, body } = await bitrixFetch(
      `${this.#base}/rest/app.info?auth=${encodeURIComponent(accessToken)}`,
      { headers: { accept: "application/json" } },
      this.#timeoutMs,
    );
    const result = (body as { result?: Record<string, unknown> } | undefined)?.result;
    if (status !== 200 || !result) throw errorOf(status, body);
    const clientId = result.client_id;
    if (typeof clientId !== "string" || !clientId) {
      throw new BitrixApiError(status, "NO_CLIENT_ID", "app.info did not name the application");
    }
    const install = result.install as { installed?: unknown } | undefined;
    return {
      clientId,
      memberId: typeof result.member_id === "string" ? result.member_id : undefined,
      licenseFamily: typeof result.LICENSE_FAMILY === "string" ? result.LICENSE_FAMILY : undefined,
      installed: typeof install?.installed === "boolean" ? install.installed : undefined,
    };
  }

  async isAdmin(clientEndpoint: string, accessToken: string): Promise<boolean> {
    const { status, body } = await bitrixFetch(
      `${clientEndpoint}user.admin`,
      {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ auth: accessToken }),
      },
      this.#timeoutMs,
    );
    if (status !== 200) throw errorOf(status, body);
    return (body as { result?: unknown } | undefined)?.result === true;
  }

  async refresh(clientId: string, clientSecret: string, refreshToken: string) {
    const query = new URLSearchParams({
      grant_type: "refresh_token",
      client_id: clientId,
      client_secret: clientSecret,
      refresh_token: refreshToken,
    });
    const { status, body } = await bitrixFetch(
      `${this.#base}/oauth/token/?${query}`,
      { headers: { accept: "application/json" } },
      this.#timeoutMs,
    );
    const b = (body ?? {}) as {
      access_token?: unknown;
      refresh_token?: unknown;
      expires_in?: unknown;
      member_id?: unknown;
      client_endpoint?: unknown;
      user_id?: unknown;
    };
    if (status !== 200 || typeof b.access_token !== "string" || typeof b.refresh_token !== "string") {
      throw errorOf(status, body);
    }
    return {
      accessToken: b.access_token,
      refreshToken: b.refresh_token,
      expiresIn: Number(b.expires_in ?? 3600),
      memberId: typeof b.member_id === "string" ? b.member_id : undefined,
      clientEndpoint: typeof b.client_endpoint === "string" ? b.client_endpoint : undefined,
      userId: Number.isInteger(Number(b.user_id)) && Number(b.user_id) > 0 ? Number(b.user_id) : undefined,
    };
  }
}
