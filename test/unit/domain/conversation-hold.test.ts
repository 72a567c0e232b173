import { describe, expect, it } from "vitest";
import { compareOrderKeys, decideHold, holdEntry, parseHoldEntry } from "#shared/domain/conversation-hold.ts";
import type { DeadLetter } from "#shared/ports/dead-letters.ts";
import { inSendingOrder } from "#shared/use-cases/dead-letters.ts";

// SQS sequence numbers as fauxqs gives them (20 digits) and as long as AWS's 128-bit ones get.
const k = (n: bigint) => n.toString();
const big = 18_849_496_460_467_696_128n;

describe("a conversation's hold", () => {
  it("sorts entries as their order keys, whatever their length", () => {
    const entries = [
      holdEntry(k(big * 10n), "c"),
      holdEntry(k(big), "b"),
      holdEntry("00000000000000000009", "a"),
    ];
    expect([...entries].sort().map((e) => parseHoldEntry(e).letterId)).toEqual(["a", "b", "c"]);
    expect(parseHoldEntry(holdEntry(k(big), "x-1#2"))).toEqual({ orderKey: k(big), letterId: "x-1#2" });
    expect(compareOrderKeys("9", k(big))).toBeLessThan(0);
    expect(compareOrderKeys("00000000000000000009", "9")).toBe(0);
  });

  it("lets a new message pass only while nothing of its conversation is outstanding", () => {
    const place = { orderKey: k(big + 5n), letterId: "new", redriven: false };
    expect(decideHold([], place)).toEqual({ pass: true });
    expect(decideHold([holdEntry(k(big + 9n), "later"), holdEntry(k(big), "first")], place)).toEqual({
      pass: false,
      behind: { orderKey: k(big), letterId: "first" },
    });
  });

  it("knows a message that is already a dead letter (its batch was cut off after recording it)", () => {
    const place = { orderKey: k(big), letterId: "m1", redriven: false };
    expect(decideHold([holdEntry(k(big), "m1")], place)).toEqual({ pass: false, alreadyLetter: true });
  });

  it("lets a redriven message pass when no letter before it is outstanding, its own entry included", () => {
    const own = { orderKey: k(big + 1n), letterId: "m1", redriven: true };
    const entries = [holdEntry(k(big + 1n), "m1"), holdEntry(k(big + 2n), "m2")];
    expect(decideHold(entries, own)).toEqual({ pass: true });
    expect(decideHold([holdEntry(k(big), "m0"), ...entries], own)).toEqual({
      pass: false,
      behind: { orderKey: k(big), letterId: "m0" },
    });
  });
});

describe("the order of a redrive", () => {
  const letter = (
    id: string,
    group: string | undefined,
    failedAt: string,
    orderKey?: string,
  ): DeadLetter => ({
    id,
    queue: "inbound",
    body: "{}",
    ...(group ? { messageGroupId: group } : {}),
    reason: "r",
    attempts: 1,
    failedAt,
    source: "worker",
    ...(orderKey ? { orderKey } : {}),
  });

  it("sends a group by order key, not by the failure times different workers' clocks wrote", () => {
    const sent = inSendingOrder([
      letter("g-2", "g", "2026-01-01T00:00:01Z", k(big + 2n)),
      letter("h-1", "h", "2026-01-01T00:00:00Z", k(big)),
      letter("g-1", "g", "2026-01-01T00:00:09Z", k(big + 1n)),
      letter("g-3", "g", "2026-01-01T00:00:00Z", k(big * 2n)),
    ]);
    expect(sent.map((l) => l.id)).toEqual(["g-1", "g-2", "g-3", "h-1"]);
  });

  it("falls back to failure times in a group with a letter that has no order key", () => {
    const sent = inSendingOrder([
      letter("g-b", "g", "2026-01-01T00:00:02Z", k(big)),
      letter("g-a", "g", "2026-01-01T00:00:01Z"),
      letter("lone", undefined, "2026-01-01T00:00:00Z"),
    ]);
    expect(sent.map((l) => l.id)).toEqual(["lone", "g-a", "g-b"]);
  });
});
