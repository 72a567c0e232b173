import type { BitrixUserRest } from "../../ports/bitrix.ts";
import { bitrixFetch, errorOf } from "./http.ts";

/** One call as the page's user; their token expires with the frame, so there is no refresh here. */
export class BitrixUserRestClient implements BitrixUserRest {
  readonly #timeoutMs: number;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
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
    );
    const result = (body as { result?: unknown } | undefined)?.result;
    if (status !== 200 || result === undefined) throw errorOf(status, body);
    return result;
  }
}
