import { createHash } from "node:crypto";

/**
 * Claim check: a queue message too large for SQS travels as a reference to an object in the media
 * bucket, and the worker swaps it back. SQS takes at most 1 MiB per message *and* per batch of ten, so
 * any body over a tenth of that goes by reference, and a batch of ten always fits.
 */
export const CLAIM_THRESHOLD_BYTES = 96 * 1024;
/** Key prefix in the bucket; the stack grants the producers `PutObject` and the consumers `GetObject` on it. */
export const CLAIM_KEY_PREFIX = "claims/";

/** What a producer needs (the webhook has only this); a consumer reads claims back. */
export interface ClaimWriter {
  put(key: string, body: string): Promise<void>;
}

export interface ClaimStore extends ClaimWriter {
  get(key: string): Promise<string>;
}

interface ClaimReference {
  readonly claimCheck: { readonly key: string; readonly bytes: number };
}

/**
 * The body to send: itself when it fits, else a reference to where it was stored. The key is derived
 * from the message's deduplication key, so a retried send overwrites the same object.
 */
export async function checkIn(
  body: string,
  dedupKey: string,
  store: ClaimWriter | undefined,
): Promise<string> {
  const bytes = Buffer.byteLength(body, "utf8");
  if (bytes <= CLAIM_THRESHOLD_BYTES) return body;
  if (!store) throw new Error(`A ${bytes}-byte queue message needs a claim store, and none is configured`);
  const key = `${CLAIM_KEY_PREFIX}${createHash("sha256").update(dedupKey).digest("hex")}.json`;
  await store.put(key, body);
  const reference: ClaimReference = { claimCheck: { key, bytes } };
  return JSON.stringify(reference);
}

/** The original body of a parsed queue message: fetched when the message is a claim reference. */
export async function checkOut(parsed: unknown, store: ClaimStore | undefined): Promise<unknown> {
  const reference = (parsed as Partial<ClaimReference> | null)?.claimCheck;
  if (!isReference(parsed) || !reference) return parsed;
  if (!store) throw new Error("The queue message is a claim reference, and no claim store is configured");
  return JSON.parse(await store.get(reference.key));
}

function isReference(parsed: unknown): parsed is ClaimReference {
  if (typeof parsed !== "object" || parsed === null || Object.keys(parsed).length !== 1) return false;
  const ref = (parsed as { claimCheck?: unknown }).claimCheck as { key?: unknown } | undefined;
  return typeof ref?.key === "string" && ref.key.startsWith(CLAIM_KEY_PREFIX);
}
