import { randomBytes } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoRateLimiter } from "#shared/adapters/dynamodb/rate-limiter.ts";
import { makeDocumentClient } from "#shared/adapters/dynamodb/store.ts";
import { TableClient } from "#shared/adapters/dynamodb/table-client.ts";
import { SecretBox } from "#shared/adapters/secret-box.ts";
import { RateLimitWaitError } from "#shared/errors.ts";
import { type Clock, systemClock } from "#shared/ports/clock.ts";
import type { RateProfile } from "#shared/ports/rate-limiter.ts";

/** Bitrix24's documented standard budget; the product paces a little under it. */
const STANDARD_PORTAL_RATE: RateProfile = { perSecond: 2, burst: 50 };

import { startTestStack, type TestStack } from "../support/stack.ts";

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

/** A separate client per limiter: each stands for another Lambda container sharing only the table. */
function newTableClient(onCommand?: (name: string) => void): TableClient {
  const db = makeDocumentClient(new DynamoDBClient({}));
  if (onCommand) {
    db.middlewareStack.add(
      (next, context) => (args) => {
        onCommand(String(context.commandName));
        return next(args);
      },
      // After the retry middleware: every HTTP request to DynamoDB counts, retries included.
      { step: "finalizeRequest", priority: "low", name: "countRequests" },
    );
  }
  return new TableClient(
    db,
    String(process.env.TABLE_NAME),
    new SecretBox("rate-limiter-test-key-0123456789abcdef"),
  );
}

/** Time that moves only when the limiter sleeps, so waits are asserted exactly, not by wall clock. */
function fakeTime() {
  let nowMs = Date.now();
  const sleeps: number[] = [];
  const clock: Clock = { now: () => new Date(nowMs) };
  return {
    clock,
    sleeps,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      nowMs += ms;
    },
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

const uniqueKey = (name: string) => `${name}-${randomBytes(4).toString("hex")}`;
// The limiter adds at most 50 ms (and at most 20 % of the wait) of jitter so waiters do not collide.
const MAX_JITTER_MS = 50;

describe("DynamoRateLimiter", () => {
  it("grants a full burst at once, then waits 1/perSecond for the next request", async () => {
    const time = fakeTime();
    const limiter = new DynamoRateLimiter(newTableClient(), time.clock, { sleep: time.sleep });
    const key = uniqueKey("burst");

    for (let i = 0; i < STANDARD_PORTAL_RATE.burst; i++) await limiter.acquire(key, STANDARD_PORTAL_RATE);
    expect(time.sleeps).toEqual([]);

    await limiter.acquire(key, STANDARD_PORTAL_RATE);
    const oneRequestMs = 1000 / STANDARD_PORTAL_RATE.perSecond;
    expect(time.sleeps).toHaveLength(1);
    expect(time.sleeps[0]).toBeGreaterThanOrEqual(oneRequestMs);
    expect(time.sleeps[0]).toBeLessThanOrEqual(oneRequestMs + MAX_JITTER_MS);

    // A cost of 3 on an empty bucket waits for three tokens' worth of refill.
    await limiter.acquire(key, STANDARD_PORTAL_RATE, 3);
    const lastSleep = time.sleeps.at(-1) ?? 0;
    expect(time.sleeps).toHaveLength(2);
    // The jitter of the previous sleep already refilled a fraction of a token.
    expect(lastSleep).toBeGreaterThanOrEqual(3 * oneRequestMs - MAX_JITTER_MS);
    expect(lastSleep).toBeLessThanOrEqual(3 * oneRequestMs + MAX_JITTER_MS);
  });

  it("keeps the bucket in one item with a TTL, at one read and one conditional write per acquire", async () => {
    const commands: string[] = [];
    const tableClient = newTableClient((name) => commands.push(name));
    const time = fakeTime();
    const limiter = new DynamoRateLimiter(tableClient, time.clock, { sleep: time.sleep });
    const key = uniqueKey("layout");

    await limiter.acquire(key, STANDARD_PORTAL_RATE);
    expect(commands).toEqual(["GetItemCommand", "PutItemCommand"]);
    commands.length = 0;
    time.advance(250);
    await limiter.acquire(key, STANDARD_PORTAL_RATE);
    expect(commands).toEqual(["GetItemCommand", "PutItemCommand"]);

    const item = await newTableClient().get({ pk: `RATE#${key}`, sk: "RATE" });
    const nowMs = time.clock.now().getTime();
    expect(item).toEqual({
      pk: `RATE#${key}`,
      sk: "RATE",
      // Fractional: 50 − 1, + 0.25 s × 2/s of refill, − 1.
      tokens: 48.5,
      refilledAtMs: nowMs,
      version: 2,
      expiresAt: Math.floor(nowMs / 1000) + 86_400,
    });
  });

  it("with a reserve, one write takes several tokens that the next acquires spend without DynamoDB", async () => {
    const commands: string[] = [];
    const tableClient = newTableClient((name) => commands.push(name));
    const time = fakeTime();
    const limiter = new DynamoRateLimiter(tableClient, time.clock, {
      sleep: time.sleep,
      reserve: { tokens: 4, forMs: 2_000 },
    });
    const key = uniqueKey("reserve");

    for (let i = 0; i < 5; i++) await limiter.acquire(key, STANDARD_PORTAL_RATE);
    expect(commands).toEqual(["GetItemCommand", "PutItemCommand"]);
    const item = await newTableClient().get({ pk: `RATE#${key}`, sk: "RATE" });
    expect(item).toMatchObject({ tokens: STANDARD_PORTAL_RATE.burst - 5, version: 1 });

    // The reserve is spent: the next write starts from the item this process wrote, without a read.
    commands.length = 0;
    time.advance(100);
    await limiter.acquire(key, STANDARD_PORTAL_RATE);
    expect(commands).toEqual(["PutItemCommand"]);

    // Past `forMs` the reserve and the remembered item are forgotten: a read again.
    commands.length = 0;
    time.advance(2_500);
    await limiter.acquire(key, STANDARD_PORTAL_RATE);
    expect(commands).toEqual(["GetItemCommand", "PutItemCommand"]);
  });

  it("with a reserve, takes no extra tokens from a bucket less than half full", async () => {
    const time = fakeTime();
    const limiter = new DynamoRateLimiter(newTableClient(), time.clock, {
      sleep: time.sleep,
      reserve: { tokens: 4, forMs: 2_000 },
    });
    const profile: RateProfile = { perSecond: 1, burst: 10 };
    const key = uniqueKey("reserve-low");
    // 1 + 4 reserved, then 4 from the reserve: 5 left, exactly half.
    for (let i = 0; i < 5; i++) await limiter.acquire(key, profile);
    await limiter.acquire(key, profile);
    const item = await newTableClient().get({ pk: `RATE#${key}`, sk: "RATE" });
    expect(item).toMatchObject({ tokens: 4, version: 2 });
  });

  // 30 from 5 workers at 50/s is the table's own contention pace; at 10/s the bucket runs dry and the
  // workers also go through the sleep-and-retry path.
  it.each([
    { perSecond: 50, burst: 10, requests: 30, mustSleep: false },
    { perSecond: 10, burst: 3, requests: 15, mustSleep: true },
    { perSecond: 10, burst: 20, requests: 40, mustSleep: true, reserve: true },
  ])("never hands out more than burst + perSecond × elapsed across 5 workers: %o", async (c) => {
    const profile: RateProfile = { perSecond: c.perSecond, burst: c.burst };
    const key = uniqueKey("concurrent");
    let sleeps = 0;
    const sleep = (ms: number) => {
      sleeps++;
      return new Promise<void>((resolve) => setTimeout(resolve, ms));
    };
    const workers = Array.from(
      { length: 5 },
      () =>
        new DynamoRateLimiter(newTableClient(), systemClock, {
          sleep,
          ...(c.reserve ? { reserve: { tokens: 4, forMs: 2_000 } } : {}),
        }),
    );
    const startedAtMs = Date.now();
    const grantedAtMs: number[] = [];

    await Promise.all(
      Array.from({ length: c.requests }, async (_, i) => {
        await workers[i % workers.length]?.acquire(key, profile);
        grantedAtMs.push(Date.now());
      }),
    );

    expect(grantedAtMs).toHaveLength(c.requests);
    // The k-th grant to complete was written no later than it completed, and the bucket started full
    // no earlier than `startedAtMs` (the limiter's clock is this one): so k ≤ burst + perSecond ×
    // (its completion − start). Only durations relative to the start are compared.
    grantedAtMs.forEach((atMs, i) => {
      const allowed = profile.burst + (profile.perSecond * (atMs - startedAtMs)) / 1000;
      expect(i + 1, `grant ${i + 1} after ${atMs - startedAtMs} ms`).toBeLessThanOrEqual(allowed + 1e-9);
    });
    if (c.mustSleep) expect(sleeps).toBeGreaterThan(0);
    // Without a reserve every grant is exactly one successful conditional write: none lost, none
    // counted twice; with one, fewer writes grant as many.
    const item = await newTableClient().get({ pk: `RATE#${key}`, sk: "RATE" });
    if (c.reserve) expect(item?.version).toBeLessThan(c.requests);
    else expect(item?.version).toBe(c.requests);
    expect(item?.tokens).toBeGreaterThanOrEqual(0);
  });

  it("rejects with a transient error when the wait would exceed maxWaitMs, taking nothing", async () => {
    const time = fakeTime();
    const limiter = new DynamoRateLimiter(newTableClient(), time.clock, {
      sleep: time.sleep,
      maxWaitMs: 300,
    });
    const key = uniqueKey("maxwait");
    const profile: RateProfile = { perSecond: 2, burst: 1 };

    await limiter.acquire(key, profile);
    const error = await limiter.acquire(key, profile).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitWaitError);
    expect(error).toMatchObject({ transient: true, code: "rate_limited" });
    expect((error as Error).message).toMatch(/rate budget .* is exhausted/);
    expect(time.sleeps).toEqual([]);

    // Once the bucket refilled, the next acquire goes through without waiting: the refusal took nothing.
    time.advance(500);
    await limiter.acquire(key, profile);
    expect(time.sleeps).toEqual([]);

    // Waits add up: a competitor takes the refilled token while this worker sleeps, so the second wait
    // would bring the total past the maximum.
    const competitor = new DynamoRateLimiter(newTableClient(), time.clock, { sleep: time.sleep });
    const slept: number[] = [];
    const unlucky = new DynamoRateLimiter(newTableClient(), time.clock, {
      maxWaitMs: 800,
      sleep: async (ms) => {
        slept.push(ms);
        time.advance(ms);
        await competitor.acquire(key, profile);
      },
    });
    await expect(unlucky.acquire(key, profile)).rejects.toBeInstanceOf(RateLimitWaitError);
    expect(slept).toHaveLength(1);
    expect(time.sleeps).toEqual([]);
  });

  it("keeps separate budgets for separate keys", async () => {
    const time = fakeTime();
    const limiter = new DynamoRateLimiter(newTableClient(), time.clock, { sleep: time.sleep });
    const profile: RateProfile = { perSecond: 2, burst: 5 };
    const a = uniqueKey("portal-a");
    const b = uniqueKey("portal-b");

    await limiter.acquire(a, profile, 5);
    for (let i = 0; i < 5; i++) await limiter.acquire(b, profile);
    expect(time.sleeps).toEqual([]);

    await limiter.acquire(a, profile);
    expect(time.sleeps).toHaveLength(1);
  });
});
