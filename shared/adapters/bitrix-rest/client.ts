import { stringify } from "qs";
import { isAllowedOutboundUrl } from "../../domain/outbound-url.ts";
import { BitrixApiError } from "../../errors.ts";
import type { BatchCall, BatchResult, BitrixGateway } from "../../ports/bitrix.ts";
import type { BitrixStore, PortalRecord } from "../../ports/bitrix-store.ts";
import type { FetchFromOutside } from "../../ports/outbound-fetch.ts";
import { makeSafeFetch } from "../safe-fetch.ts";
import { bitrixFetch, errorOf } from "./http.ts";
import type { TokenRefresher } from "./token-refresher.ts";

export interface BitrixRestOptions {
  readonly timeoutMs: number;
  /** The local stack's loopback fakes speak plain HTTP; nothing else may. */
  readonly allowLoopbackHttp: boolean;
  /**
   * Waits before retrying a call Bitrix24 refused for its rate or time limits (nothing was done, so a
   * retry is safe). Longer waits belong to the queue's redelivery, not to a request in flight.
   */
  readonly limitRetryDelaysMs?: readonly number[];
}

const LIMIT_ERRORS = new Set(["QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT"]);

const AUTH_ERRORS = new Set(["expired_token", "invalid_token"]);
const MAX_BATCH = 50;

/**
 * Bitrix24 REST for installed portals: JSON POST to `{client_endpoint}{method}` with the portal's token.
 * An expired token is refreshed (once per portal, see TokenRefresher) and the call retried once; a
 * renamed portal's 302 is followed by storing the new endpoint. Errors come out as BitrixApiError.
 */
export class BitrixRestClient implements BitrixGateway {
  readonly #store: BitrixStore;
  readonly #refresher: TokenRefresher;
  readonly #options: BitrixRestOptions;
  readonly #fromOutside: FetchFromOutside;

  constructor(store: BitrixStore, refresher: TokenRefresher, options: BitrixRestOptions) {
    this.#store = store;
    this.#refresher = refresher;
    this.#options = options;
    // A portal names its own REST endpoint: it is resolved and checked before every call.
    this.#fromOutside = makeSafeFetch({ allowLoopback: options.allowLoopbackHttp });
  }

  async call<T = unknown>(
    memberId: string,
    method: string,
    params: Record<string, unknown> = {},
  ): Promise<T> {
    const body = await this.#send(memberId, method, params);
    return (body as { result: T }).result;
  }

  async batch(memberId: string, calls: Record<string, BatchCall>, halt = false): Promise<BatchResult> {
    const keys = Object.keys(calls);
    if (keys.length > MAX_BATCH)
      throw new BitrixApiError(400, "ERROR_BATCH_LENGTH_EXCEEDED", `${keys.length} calls`);
    const cmd = Object.fromEntries(
      keys.map((k) => {
        const call = calls[k] as BatchCall;
        const query = stringify(call.params ?? {}, { encodeValuesOnly: true });
        return [k, query ? `${call.method}?${query}` : call.method];
      }),
    );
    const body = await this.#send(memberId, "batch", { halt: halt ? 1 : 0, cmd });
    const result = (body as { result?: { result?: unknown; result_error?: unknown } }).result ?? {};
    return {
      result: asRecord(result.result),
      errors: asRecord(result.result_error) as BatchResult["errors"],
    };
  }

  async #send(memberId: string, method: string, params: Record<string, unknown>): Promise<unknown> {
    let portal = await this.#portal(memberId);
    let refreshed = false;
    let limitRetries = 0;
    const delays = this.#options.limitRetryDelaysMs ?? [500, 1500];
    for (let redirects = 0; ; ) {
      const tokens = portal.tokens;
      if (!tokens)
        throw new BitrixApiError(401, "NO_TOKENS", `portal ${memberId} has no tokens; reinstall the app`);
      const url = `${portal.clientEndpoint}${method}`;
      if (!isAllowedOutboundUrl(url, this.#options.allowLoopbackHttp)) {
        throw new BitrixApiError(400, "UNSAFE_ENDPOINT", `refusing to call ${portal.clientEndpoint}`);
      }
      const { status, body, location } = await bitrixFetch(
        url,
        {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify({ ...params, auth: tokens.accessToken }),
        },
        this.#options.timeoutMs,
        this.#fromOutside,
      );
      if (
        (status === 301 || status === 302 || status === 307 || status === 308) &&
        location &&
        redirects < 2
      ) {
        redirects++;
        portal = await this.#moveEndpoint(portal, location, method);
        continue;
      }
      if (status === 200 && body !== undefined && !(body as { error?: unknown }).error) return body;
      const error = errorOf(status, body);
      if (AUTH_ERRORS.has(error.bitrixCode) && !refreshed) {
        refreshed = true;
        const tokens2 = await this.#refresher.refresh(memberId, tokens.version);
        portal = { ...portal, tokens: tokens2 };
        continue;
      }
      const delay = delays[limitRetries];
      if (LIMIT_ERRORS.has(error.bitrixCode) && delay !== undefined) {
        limitRetries++;
        await new Promise((r) => setTimeout(r, delay));
        continue;
      }
      throw error;
    }
  }

  async #portal(memberId: string): Promise<PortalRecord> {
    const portal = await this.#store.getPortal(memberId);
    if (portal?.status !== "installed") {
      throw new BitrixApiError(404, "PORTAL_NOT_INSTALLED", `no installed portal ${memberId}`);
    }
    return portal;
  }

  /** A renamed cloud portal answers 302 to its new address: keep the new REST base from then on. */
  async #moveEndpoint(portal: PortalRecord, location: string, method: string): Promise<PortalRecord> {
    const target = new URL(location, portal.clientEndpoint);
    const suffix = target.pathname.lastIndexOf(`/${method}`);
    const clientEndpoint = `${target.origin}${suffix > -1 ? target.pathname.slice(0, suffix + 1) : "/rest/"}`;
    if (!isAllowedOutboundUrl(clientEndpoint, this.#options.allowLoopbackHttp)) {
      throw new BitrixApiError(400, "UNSAFE_ENDPOINT", `refusing redirect to ${target.origin}`);
    }
    await this.#store.movePortalEndpoint(portal.memberId, clientEndpoint, target.host);
    return { ...portal, clientEndpoint, domain: target.host };
  }
}

function asRecord(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
