import { BitrixApiError } from "../../errors.ts";
import { type FetchFromOutside, UnsafeUrlError } from "../../ports/outbound-fetch.ts";

/**
 * One HTTP exchange with Bitrix24 (portal REST or OAuth server), with every failure typed: a network
 * error or timeout becomes a transient BitrixApiError with HTTP status 0.
 */
export async function bitrixFetch(
  url: string,
  init: { method?: string; headers: Record<string, string>; body?: string },
  timeoutMs: number,
  /** For URLs a portal told us (its `client_endpoint`): resolved and checked before connecting. */
  fromOutside?: FetchFromOutside,
): Promise<{ status: number; body: unknown; location?: string }> {
  let response: { status: number; headers: Headers; text(): Promise<string> };
  try {
    const signal = AbortSignal.timeout(timeoutMs);
    response = fromOutside
      ? await fromOutside(url, { ...init, maxRedirects: 0, signal })
      : await fetch(url, { ...init, redirect: "manual", signal });
  } catch (error) {
    if (error instanceof UnsafeUrlError) throw new BitrixApiError(400, "UNSAFE_ENDPOINT", error.message);
    // The cause's code (ECONNREFUSED, ECONNRESET …) tells whether the request can have reached Bitrix24.
    const code = ((error as { cause?: { code?: unknown } }).cause?.code as string | undefined) ?? "";
    const reason =
      // fetch() rejects with the signal's TimeoutError; node:http (the safe fetch) with an AbortError
      // whose cause it is.
      (error as Error).name === "TimeoutError" ||
      (error as { cause?: { name?: string } }).cause?.name === "TimeoutError"
        ? `no answer within ${timeoutMs} ms`
        : `${(error as Error).message}${code ? ` (${code})` : ""}`;
    throw new BitrixApiError(0, "CONNECTION_ERROR", reason);
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    // Bitrix24 answered and the connection dropped mid-answer: the call may well have been carried out.
    throw new BitrixApiError(0, "CONNECTION_ERROR", `answer cut off: ${(error as Error).message}`);
  }
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, body, location: response.headers.get("location") ?? undefined };
}

export function errorOf(status: number, body: unknown): BitrixApiError {
  const b = (body ?? {}) as { error?: unknown; error_description?: unknown };
  const code = typeof b.error === "string" && b.error ? b.error : `HTTP_${status}`;
  return new BitrixApiError(status, code, typeof b.error_description === "string" ? b.error_description : "");
}
