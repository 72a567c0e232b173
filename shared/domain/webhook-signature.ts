import { createHmac, timingSafeEqual } from "node:crypto";

const PREFIX = "sha256=";
/** Exactly one digest: trailing bytes or two headers joined by a proxy (`a, b`) are not a signature. */
const HEADER_FORM = /^sha256=[0-9a-fA-F]{64}$/;

/**
 * Checks Meta's `X-Hub-Signature-256` header: HMAC-SHA256 of the raw body bytes keyed with the app secret,
 * hex-encoded behind `sha256=`. The body must be the bytes Meta sent — re-serialised JSON would not match.
 */
export function verifyWebhookSignature(
  rawBody: Uint8Array,
  header: string | undefined,
  appSecret: string,
): boolean {
  // Buffer.from(…, "hex") stops silently at the first non-hex byte, so the form is checked first.
  if (header === undefined || !HEADER_FORM.test(header)) return false;
  const received = Buffer.from(header.slice(PREFIX.length), "hex");
  const expected = createHmac("sha256", appSecret).update(rawBody).digest();
  return timingSafeEqual(received, expected);
}

export function signWebhookBody(rawBody: Uint8Array | string, appSecret: string): string {
  return PREFIX + createHmac("sha256", appSecret).update(rawBody).digest("hex");
}
