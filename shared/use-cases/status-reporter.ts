import type { BitrixGateway } from "../ports/bitrix.ts";
import type { RateLimiter, RateProfile } from "../ports/rate-limiter.ts";

/** How long a status report waits for others to the same line, and how many go in one call. */
// Short: a lone message's wait is billed Lambda time. Batches still fill while the line's previous
// call is in flight, since a line's calls go one after another.
const BATCH_WINDOW_MS = 5;
const BATCH_MAX = 20;

interface Pending {
  readonly memberId: string;
  readonly profile: RateProfile;
  readonly method: string;
  readonly params: Record<string, unknown>;
  readonly messages: Record<string, unknown>[];
  readonly waiters: { resolve: () => void; reject: (error: unknown) => void }[];
}

/**
 * Delivery reports to Bitrix24 (`imconnector.send.status.delivery`; `.reading` is a stub and not called)
 * take a list of messages: reports for the same line that are ready together go in one call, which costs one
 * request of the portal's rate budget. Every report of a call succeeds or fails with it.
 */
export function makeStatusReporter({ bitrix, limiter }: { bitrix: BitrixGateway; limiter: RateLimiter }) {
  const pending = new Map<string, Pending>();

  async function flush(key: string, batch: Pending): Promise<void> {
    if (pending.get(key) !== batch) return;
    pending.delete(key);
    try {
      await limiter.acquire(batch.memberId, batch.profile);
      await bitrix.call(batch.memberId, batch.method, { ...batch.params, MESSAGES: batch.messages });
      for (const w of batch.waiters) w.resolve();
    } catch (error) {
      for (const w of batch.waiters) w.reject(error);
    }
  }

  return function report(
    memberId: string,
    profile: RateProfile,
    method: string,
    params: { CONNECTOR: string; LINE: number | string },
    message: Record<string, unknown>,
  ): Promise<void> {
    const key = `${memberId}|${method}|${params.CONNECTOR}|${params.LINE}`;
    return new Promise((resolve, reject) => {
      let batch = pending.get(key);
      if (!batch) {
        const created: Pending = { memberId, profile, method, params, messages: [], waiters: [] };
        pending.set(key, created);
        setTimeout(() => void flush(key, created), BATCH_WINDOW_MS);
        batch = created;
      }
      batch.messages.push(message);
      batch.waiters.push({ resolve, reject });
      if (batch.messages.length >= BATCH_MAX) void flush(key, batch);
    });
  };
}
