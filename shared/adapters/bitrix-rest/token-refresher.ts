import { trustedOAuthServer } from "../../domain/oauth-server.ts";
import { BitrixApiError } from "../../errors.ts";
import type { BitrixOAuth } from "../../ports/bitrix.ts";
import type { BitrixStore, PortalTokens } from "../../ports/bitrix-store.ts";
import type { Clock } from "../../ports/clock.ts";
import { type Metrics, metricNames, noMetrics } from "../../ports/metrics.ts";

const LEASE_MS = 30_000;
const WAIT_STEP_MS = 150;
const MAX_WAIT_MS = 20_000;

/**
 * Refresh tokens are single-use: two workers refreshing at once would leave one of them — and possibly the
 * portal — with a dead token. So one refresh per portal at a time: the winner takes a lease with a
 * conditional write on the token version, refreshes and stores version + 1; losers wait for the version
 * to move and use the winner's tokens. Each portal refreshes at its own region's OAuth server (the
 * `server_endpoint` accepted at install); portals stored before that was kept use the first trusted one.
 */
export class TokenRefresher {
  readonly #store: BitrixStore;
  readonly #oauth: BitrixOAuth;
  readonly #clock: Clock;
  readonly #servers: readonly string[];
  readonly #metrics: Metrics;

  constructor(
    store: BitrixStore,
    oauth: BitrixOAuth,
    clock: Clock,
    servers: readonly string[],
    metrics: Metrics = noMetrics,
  ) {
    this.#store = store;
    this.#oauth = oauth;
    this.#clock = clock;
    this.#servers = servers;
    this.#metrics = metrics;
  }

  /** Tokens newer than `staleVersion`: someone else's fresh ones, or ours after refreshing. */
  async refresh(memberId: string, staleVersion: number): Promise<PortalTokens> {
    const deadline = this.#clock.now().getTime() + MAX_WAIT_MS;
    while (this.#clock.now().getTime() < deadline) {
      const portal = await this.#store.getPortal(memberId);
      if (!portal?.tokens || portal.status !== "installed") {
        throw new BitrixApiError(401, "NO_TOKENS", `portal ${memberId} has no tokens; reinstall the app`);
      }
      if (portal.tokens.version > staleVersion) return portal.tokens;
      const now = this.#clock.now().getTime();
      if (await this.#store.acquireRefreshLease(memberId, staleVersion, now + LEASE_MS, now)) {
        return this.#refreshHoldingLease(memberId, portal.clientId, portal.serverEndpoint, portal.tokens);
      }
      await new Promise((r) => setTimeout(r, WAIT_STEP_MS));
    }
    throw new BitrixApiError(
      0,
      "TOKEN_REFRESH_BUSY",
      "another worker's token refresh did not finish in time",
    );
  }

  async #refreshHoldingLease(
    memberId: string,
    clientId: string,
    serverEndpoint: string | undefined,
    stale: PortalTokens,
  ): Promise<PortalTokens> {
    try {
      const app = await this.#store.getBitrixApp(clientId);
      if (!app) throw new BitrixApiError(401, "UNKNOWN_APP", `Bitrix24 app ${clientId} is not registered`);
      const server = serverEndpoint ? trustedOAuthServer(serverEndpoint, this.#servers) : this.#servers[0];
      if (!server) {
        throw new BitrixApiError(
          401,
          "OAUTH_SERVER_NOT_TRUSTED",
          `portal ${memberId} refreshes at ${serverEndpoint}, which is not in BITRIX_OAUTH_URLS`,
        );
      }
      const fresh = await this.#oauth.refresh(server, app.clientId, app.clientSecret, stale.refreshToken);
      // Installs do not spend the refresh token they bring, so this is where one of another portal shows.
      if (fresh.memberId !== memberId) {
        throw new BitrixApiError(
          401,
          "TOKEN_OF_ANOTHER_PORTAL",
          `the refresh token of ${memberId} is another portal's`,
        );
      }
      this.#metrics.count(metricNames.tokenRefreshes, 1, { portal: memberId });
      const tokens: PortalTokens = {
        ...stale,
        accessToken: fresh.accessToken,
        refreshToken: fresh.refreshToken,
        expiresAt: Math.floor(this.#clock.now().getTime() / 1000) + fresh.expiresIn,
        version: stale.version + 1,
      };
      if (await this.#store.saveRefreshedTokens(memberId, stale.version, tokens)) return tokens;
      // Only an install or update replaces tokens under a lease; theirs are the ones to use.
      const now = await this.#store.getPortal(memberId);
      if (now?.tokens) return now.tokens;
      throw new BitrixApiError(401, "NO_TOKENS", `portal ${memberId} lost its tokens during refresh`);
    } catch (error) {
      await this.#store.releaseRefreshLease(memberId).catch(() => undefined);
      throw error;
    }
  }
}
