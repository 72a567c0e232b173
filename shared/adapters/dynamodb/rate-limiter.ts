import { setTimeout as delay } from "node:timers/promises";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { RateLimitWaitError } from "../../errors.ts";
import type { Clock } from "../../ports/clock.ts";
import { type Metrics, metricNames, noMetrics } from "../../ports/metrics.ts";
import type { RateLimiter, RateProfile } from "../../ports/rate-limiter.ts";
import { table } from "../../resources.ts";
import { type Item, isConditionFailure, type TableClient } from "./table-client.ts";

export interface DynamoRateLimiterOptions {
  /** Longest an `acquire` may wait in total before it gives up with a transient error (default 10 s). */
  readonly maxWaitMs?: number;
  /** Injected for tests; the default is a real timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Counts each acquire that had to wait for the budget. */
  readonly metrics?: Metrics;
}

const DEFAULT_MAX_WAIT_MS = 10_000;
/** Idle buckets disappear a day after their last grant; a bucket recreated full is what it would be by then. */
const BUCKET_TTL_SECONDS = 86_400;
/** Waiters for the same bucket must not all wake in the same millisecond and collide on the write. */
const MAX_JITTER_MS = 50;
const JITTER_SHARE = 0.2;
/** Absorbs floating-point residue of fractional refills (0.1 + 0.2 style), far below one request. */
const EPSILON = 1e-9;

const bucketKey = (key: string) => ({ pk: `RATE#${key}`, sk: "RATE" });

/**
 * A token bucket per key, kept in one DynamoDB item that every concurrent Lambda worker reads and
 * writes: Bitrix24 meters requests per portal (leaky bucket, `QUERY_LIMIT_EXCEEDED` past the burst)
 * across all our workers, so a per-process limiter would let N workers spend N times the budget. We
 * pace ourselves below the portal's own limit; `QUERY_LIMIT_EXCEEDED` must stay the exception, not the
 * pacing mechanism (it fails the request, which then costs a retry and more budget).
 *
 * Item: `pk = RATE#<key>`, `sk = RATE`, `tokens` (fractional), `refilledAtMs`, `version`, `expiresAt`.
 * An acquire is a consistent read plus one conditional write on `version` (optimistic concurrency):
 * a lost write means another worker took tokens first, so it retries at once from the item the failed
 * write returned (no extra read); not enough tokens means sleeping for the deficit (plus jitter) and
 * reading again, until the total wait would pass `maxWaitMs` (then a transient `RateLimitWaitError`).
 */
export class DynamoRateLimiter implements RateLimiter {
  readonly #t: TableClient;
  readonly #clock: Clock;
  readonly #maxWaitMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #metrics: Metrics;

  constructor(tableClient: TableClient, clock: Clock, options: DynamoRateLimiterOptions = {}) {
    this.#t = tableClient;
    this.#clock = clock;
    this.#maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.#sleep = options.sleep ?? ((ms) => delay(ms).then(() => undefined));
    this.#metrics = options.metrics ?? noMetrics;
  }

  readonly #queues = new Map<string, Promise<unknown>>();

  /**
   * Keys are portals (member ids): Bitrix24 meters each portal on its own.
   *
   * Callers in one process (a Lambda running a batch's conversations side by side) take their turn per
   * key, so a process has one conditional write in flight per portal: contention is left to happen only
   * between processes, where it cannot be avoided.
   */
  acquire(key: string, profile: RateProfile, cost = 1): Promise<void> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const turn = previous.catch(() => undefined).then(() => this.#acquire(key, profile, cost));
    const tail = turn.catch(() => undefined);
    this.#queues.set(key, tail);
    void tail.then(() => {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    });
    return turn;
  }

  async #acquire(key: string, profile: RateProfile, cost: number): Promise<void> {
    const { perSecond, burst } = profile;
    if (!(perSecond > 0) || !(burst > 0)) throw new RangeError(`Invalid rate profile for ${key}`);
    if (!(cost > 0)) return;
    // A cost above the burst would never fit in the bucket: a programming error, not something to retry.
    if (cost > burst) throw new RangeError(`Cost ${cost} exceeds the burst ${burst} of ${key}`);

    const k = bucketKey(key);
    const startMs = this.#now();
    let sleptMs = 0;
    // The item as a lost write returned it, which saves the re-read; undefined: read it.
    let known: { item: Item | undefined } | undefined;
    for (;;) {
      const item = known ? known.item : await this.#t.get(k);
      known = undefined;
      const nowMs = this.#now();
      const bucket = refill(item, nowMs, profile);

      if (bucket.tokens + EPSILON >= cost) {
        const outcome = await this.#take(k, item, bucket, cost, nowMs);
        if (outcome.granted) return;
        // Another worker wrote since our read; what it left may still be enough, so retry at once with
        // the item the failed write returned. Each lost write is someone else's grant, so this cannot
        // spin without the bucket draining; the clock check bounds it all the same.
        if (nowMs - startMs > this.#maxWaitMs) throw this.#exhausted(key, profile, nowMs - startMs);
        known = outcome.current;
        continue;
      }

      const waitMs = Math.ceil(((cost - bucket.tokens) / perSecond) * 1000);
      // Both the sum of sleeps and the clock: round trips count against the caller's time too, and a
      // clock that does not move (or moves oddly) still cannot keep a caller waiting forever.
      const waitedMs = Math.max(sleptMs, nowMs - startMs);
      // Once per acquire that found the budget short, whether it then waits or gives up.
      if (sleptMs === 0) this.#metrics.count(metricNames.rateLimitWaits, 1, { portal: key });
      if (waitedMs + waitMs > this.#maxWaitMs) throw this.#exhausted(key, profile, waitedMs + waitMs);
      const jitterMs = Math.ceil(Math.random() * Math.min(MAX_JITTER_MS, waitMs * JITTER_SHARE));
      await this.#sleep(waitMs + jitterMs);
      sleptMs += waitMs + jitterMs;
    }
  }

  /**
   * The conditional write that takes `cost` tokens. When another worker wrote first it fails, and
   * DynamoDB hands back the item as it now is (`ReturnValuesOnConditionCheckFailure`).
   */
  async #take(
    k: { pk: string; sk: string },
    previous: Item | undefined,
    bucket: Bucket,
    cost: number,
    nowMs: number,
  ): Promise<{ granted: true } | { granted: false; current: { item: Item | undefined } | undefined }> {
    const item: Item = {
      ...k,
      tokens: Math.max(0, bucket.tokens - cost),
      refilledAtMs: bucket.refilledAtMs,
      version: bucket.version + 1,
      [table.ttlAttribute]: Math.floor(nowMs / 1000) + BUCKET_TTL_SECONDS,
    };
    try {
      await this.#t.db.send(
        new PutCommand({
          TableName: this.#t.tableName,
          Item: item,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ...(previous
            ? {
                ConditionExpression: "#version = :version",
                ExpressionAttributeNames: { "#version": "version" },
                ExpressionAttributeValues: { ":version": bucket.version },
              }
            : { ConditionExpression: "attribute_not_exists(pk)" }),
        }),
      );
      return { granted: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return { granted: false, current: fromAttributeValues((error as { Item?: unknown }).Item) };
    }
  }

  #exhausted(key: string, profile: RateProfile, waitMs: number): RateLimitWaitError {
    return new RateLimitWaitError(
      `The portal's rate budget (${key}) is exhausted: the next request would wait ${waitMs} ms, over the ${this.#maxWaitMs} ms allowed`,
      { key, perSecond: profile.perSecond, burst: profile.burst, waitMs, maxWaitMs: this.#maxWaitMs },
    );
  }

  #now(): number {
    return this.#clock.now().getTime();
  }
}

interface Bucket {
  readonly tokens: number;
  readonly refilledAtMs: number;
  readonly version: number;
}

/** The bucket as of `nowMs`: a missing item is a full bucket; time since the last write refills it. */
function refill(item: Item | undefined, nowMs: number, profile: RateProfile): Bucket {
  if (!item) return { tokens: profile.burst, refilledAtMs: nowMs, version: 0 };
  const storedAtMs = Number(item.refilledAtMs);
  const stored = Number(item.tokens);
  const version = Number(item.version);
  // Workers' clocks differ a little: never refill for negative time, and never move `refilledAtMs`
  // backwards, or the same interval would be credited twice.
  const elapsedMs = Math.max(0, nowMs - storedAtMs);
  return {
    tokens: Math.min(profile.burst, stored + (elapsedMs / 1000) * profile.perSecond),
    refilledAtMs: Math.max(nowMs, storedAtMs),
    version,
  };
}

/**
 * The exception carries the item in DynamoDB's wire format (the document client converts only
 * outputs): the bucket's three numbers are read from it; anything else means "read it again".
 */
function fromAttributeValues(raw: unknown): { item: Item } | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const n = (name: string) => Number((raw as Record<string, { N?: unknown } | undefined>)[name]?.N);
  const item = { tokens: n("tokens"), refilledAtMs: n("refilledAtMs"), version: n("version") };
  return Object.values(item).every(Number.isFinite) ? { item } : undefined;
}
