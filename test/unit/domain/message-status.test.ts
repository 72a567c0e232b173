import { describe, expect, it } from "vitest";
import { nextStatus, parseStatus, STATUSES, type Status } from "#shared/domain/message-status.ts";
import { fixtureJson } from "../../fixtures.ts";

// Every (stored, incoming) pair; `undefined` in the last column means the webhook is ignored.
const TABLE: ReadonlyArray<readonly [Status | undefined, Status, Status | undefined]> = [
  [undefined, "sent", "sent"],
  [undefined, "delivered", "delivered"],
  [undefined, "read", "read"],
  [undefined, "played", "played"],
  [undefined, "failed", "failed"],

  ["sent", "sent", undefined],
  ["sent", "delivered", "delivered"],
  ["sent", "read", "read"],
  ["sent", "played", "played"],
  ["sent", "failed", "failed"],

  ["delivered", "sent", undefined],
  ["delivered", "delivered", undefined],
  ["delivered", "read", "read"],
  ["delivered", "played", "played"],
  ["delivered", "failed", "failed"],

  ["read", "sent", undefined],
  ["read", "delivered", undefined],
  ["read", "read", undefined],
  ["read", "played", "played"],
  ["read", "failed", undefined],

  ["played", "sent", undefined],
  ["played", "delivered", undefined],
  ["played", "read", undefined],
  ["played", "played", undefined],
  ["played", "failed", undefined],

  ["failed", "sent", undefined],
  ["failed", "delivered", undefined],
  ["failed", "read", undefined],
  ["failed", "played", undefined],
  ["failed", "failed", undefined],
];

describe("nextStatus", () => {
  it("covers every pair of statuses", () => {
    expect(TABLE).toHaveLength((STATUSES.length + 1) * STATUSES.length);
  });

  it.each(TABLE)("stored %s + incoming %s → %s", (current, incoming, expected) => {
    expect(nextStatus(current, incoming)).toBe(expected);
  });

  it("ends on the furthest status whatever order the webhooks arrive in", () => {
    const orders: Status[][] = [
      ["sent", "delivered", "read"],
      ["read", "sent", "delivered"],
      ["delivered", "read", "sent"],
    ];
    for (const order of orders) {
      const final = order.reduce<Status | undefined>(
        (stored, incoming) => nextStatus(stored, incoming) ?? stored,
        undefined,
      );
      expect(final).toBe("read");
    }
  });
});

describe("parseStatus", () => {
  it("reads the documented status webhook", () => {
    const status = fixtureJson<any>("meta/webhook_status_sent.json").entry[0].changes[0].value.statuses[0];
    expect(parseStatus(status.status)).toBe("sent");
  });

  it("accepts any case and surrounding spaces, and rejects what is not a message status", () => {
    expect(parseStatus("DELIVERED")).toBe("delivered");
    expect(parseStatus(" read ")).toBe("read");
    expect(parseStatus("played")).toBe("played");
    expect(parseStatus("RINGING")).toBeUndefined();
    expect(parseStatus("deleted")).toBeUndefined();
    expect(parseStatus(3)).toBeUndefined();
    expect(parseStatus(undefined)).toBeUndefined();
  });
});
