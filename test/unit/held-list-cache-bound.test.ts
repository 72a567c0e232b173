import { describe, expect, it } from "vitest";
import { settingProblems } from "#shared/config.ts";
import { queues } from "#shared/resources.ts";

/**
 * A worker that dies on a message's last receive (a crash loop, a timeout) leaves its conversation held
 * but cannot keep it in flight for the held-list cache: the conversation's next message goes to the next
 * worker once SQS gives the group out again. The batch's heartbeat renews a full visibility every third
 * of it, so after the hold the group stays out of reach for at least two thirds of the visibility
 * timeout; a cache that lasts that long lets a worker that read the list just before the hold pass the
 * next message while the dead one goes to the dead-letter queue (seen against fauxqs with a 3 s
 * visibility and a 6 s cache: the next message was worked on).
 */
describe("HELD_CONVERSATIONS_CACHE_SECONDS", () => {
  it.each(queues.map((q) => [q.name, q.visibilityTimeoutSeconds] as const))(
    "cannot be set as long as a crashed %s worker's conversation is sure to stay in flight",
    (_name, visibility) => {
      const inFlightAfterHold = Math.floor((visibility * 2) / 3);
      expect(settingProblems({ HELD_CONVERSATIONS_CACHE_SECONDS: String(inFlightAfterHold) })).not.toEqual(
        [],
      );
      expect(settingProblems({ HELD_CONVERSATIONS_CACHE_SECONDS: "20" })).toEqual([]);
    },
  );
});
