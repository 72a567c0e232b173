import { BitrixRestClient } from "./adapters/bitrix-rest/client.ts";
import { BitrixOAuthClient } from "./adapters/bitrix-rest/oauth.ts";
import { TokenRefresher } from "./adapters/bitrix-rest/token-refresher.ts";
import { makeSafeFetch } from "./adapters/safe-fetch.ts";
import { allowsLoopbackUrls, bitrixOAuthServers } from "./config.ts";
import type { Logger } from "./logger.ts";
import { systemClock } from "./ports/clock.ts";
import { type Metrics, noMetrics } from "./ports/metrics.ts";
import type { Runtime } from "./runtime.ts";
import { makeConnectPhone } from "./use-cases/connect-phone.ts";
import { makeInstallPortal } from "./use-cases/install-portal.ts";
import { makeRobotSync } from "./use-cases/sync-robot.ts";

/** The Bitrix24 side wired from configuration: OAuth server, REST client with refresh, connect and install. */
export function makeBitrixSide(
  { config, bitrixStore, conversations }: Runtime,
  logger: Logger,
  /** Queue workers pass `[]`: their queue retries with backoff, without holding a claim meanwhile. */
  limitRetryDelaysMs?: readonly number[],
  metrics: Metrics = noMetrics,
) {
  const allowLoopbackHttp = allowsLoopbackUrls(config);
  const oauthServers = bitrixOAuthServers(config);
  const oauth = new BitrixOAuthClient(
    config.HTTP_TIMEOUT_MS,
    makeSafeFetch({ allowLoopback: allowLoopbackHttp }),
  );
  const refresher = new TokenRefresher(bitrixStore, oauth, systemClock, oauthServers, metrics);
  const bitrix = new BitrixRestClient(bitrixStore, refresher, {
    timeoutMs: config.HTTP_TIMEOUT_MS,
    allowLoopbackHttp,
    limitRetryDelaysMs,
  });
  const syncRobot = makeRobotSync({ bitrix, store: bitrixStore, cache: conversations, logger });
  const connector = makeConnectPhone({
    store: bitrixStore,
    bitrix,
    clock: systemClock,
    linePrefix: config.LINE_PREFIX,
    logger,
    afterConnect: syncRobot,
  });
  const installer = makeInstallPortal({
    store: bitrixStore,
    oauth,
    bitrix,
    connector,
    clock: systemClock,
    allowLoopbackHttp,
    oauthServers,
    logger,
    syncRobot,
  });
  return { oauth, refresher, bitrix, connector, installer };
}
