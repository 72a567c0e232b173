import { BitrixApiError } from "../../errors.ts";

/**
 * One HTTP exchange with Bitrix24 (portal REST or OAuth server), with every failure typed: a network
 * error or timeout becomes a transient BitrixApiError with HTTP status 0.
 */
export async function bitrixFetch(
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<{ status: number; body: unknown; location?: string }> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const reason =
      (error as Error).name === "TimeoutError"
        ? `no answer within ${timeoutMs} ms`
        : (error as Error).message;
    throw new BitrixApiError(0, "CONNECTION_ERROR", reason);
  }
  const text = await response.text();
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
