import type { BitrixUserRest } from "../../ports/bitrix.ts";
import type { FetchFromOutside } from "../../ports/outbound-fetch.ts";
import { bitrixFetch, errorOf } from "./http.ts";

/** One call as the page's user; their token expires with the frame, so there is no refresh here. */
export class BitrixUserRestClient implements BitrixUserRest {
  readonly #timeoutMs: number;
  readonly #fromOutside: FetchFromOutside | undefined;

  /** `fromOutside` checks the portal's endpoint (resolved, public) before each call. */
  constructor(timeoutMs: number, fromOutside?: FetchFromOutside) {
    this.#timeoutMs = timeoutMs;
    this.#fromOutside = fromOutside;
  }

  async call(clientEndpoint: string, accessToken: string, method: string, params: Record<string, unknown>) {
    const { status, body } = await bitrixFetch(
      `${clientEndpoint}${method}`,
      {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ ...params, auth: accessToken }),
      },
      this.#timeoutMs,
      this.#fromOutside,
    );
    const result = (body as { result?: unknown } | undefined)?.result;
    if (status !== 200 || result === undefined) throw errorOf(status, body);
    return result;
  }
}
