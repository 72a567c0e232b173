import { createHmac, timingSafeEqual } from "node:crypto";

const PREFIX = "sha256=";

/**
 * Checks Meta's `X-Hub-Signature-256` header: HMAC-SHA256 of the raw body bytes keyed with the app secret,
 * hex-encoded behind `sha256=`. The body must be the bytes Meta sent — re-serialised JSON would not match.
 */
export function verifyWebhookSignature(
  rawBody: Uint8Array,
  header: string | undefined,
  appSecret: string,
): boolean {
  if (!header?.startsWith(PREFIX)) return false;
  const received = Buffer.from(header.slice(PREFIX.length).trim().toLowerCase(), "hex");
  const expected = createHmac("sha256", appSecret).update(rawBody).digest();
  // A header whose hex does not decode to 32 bytes cannot match; timingSafeEqual needs equal lengths.
  return received.length === expected.length && timingSafeEqual(received, expected);
}

export function signWebhookBody(rawBody: Uint8Array | string, appSecret: string): string {
  return PREFIX + createHmac("sha256", appSecret).update(rawBody).digest("hex");
}
