/** Bitrix24's per-portal leaky bucket: `burst` requests at once, refilled at `perSecond`. */
export interface RateProfile {
  readonly perSecond: number;
  readonly burst: number;
}

/**
 * Bitrix24's numbers are 2/s with burst 50 (Enterprise 5/s, 250). We pace a little under them: our bucket
 * and Bitrix24's drain on different clocks, and at exactly the same rate the jitter alone makes Bitrix24
 * refuse a request now and then.
 */
export const STANDARD_PORTAL_RATE: RateProfile = { perSecond: 1.9, burst: 48 };
export const ENTERPRISE_PORTAL_RATE: RateProfile = { perSecond: 4.75, burst: 240 };

/**
 * A limiter shared by every concurrent worker (not per process): `acquire` resolves once `cost` requests
 * may be made under `key`'s profile, waiting as needed; it rejects with a transient error when the wait
 * would exceed the limiter's maximum, so the caller's message is retried later instead of blocking.
 */
export interface RateLimiter {
  acquire(key: string, profile: RateProfile, cost?: number): Promise<void>;
}
