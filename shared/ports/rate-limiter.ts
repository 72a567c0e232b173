/** Bitrix24's per-portal leaky bucket: `burst` requests at once, refilled at `perSecond`. */
export interface RateProfile {
  readonly perSecond: number;
  readonly burst: number;
}

export const STANDARD_PORTAL_RATE: RateProfile = { perSecond: 2, burst: 50 };
export const ENTERPRISE_PORTAL_RATE: RateProfile = { perSecond: 5, burst: 250 };

/**
 * A limiter shared by every concurrent worker (not per process): `acquire` resolves once `cost` requests
 * may be made under `key`'s profile, waiting as needed; it rejects with a transient error when the wait
 * would exceed the limiter's maximum, so the caller's message is retried later instead of blocking.
 */
export interface RateLimiter {
  acquire(key: string, profile: RateProfile, cost?: number): Promise<void>;
}
