/**
 * Payloads recorded by other, independently written clients, replayed through the whole system (not just
 * the fakes): pywa's status webhooks for one message.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRuntime } from "#shared/runtime.ts";
import { fixtureJson } from "../fixtures.ts";
import { forOurNumber, PHONE_ID, startWorld, type World } from "../support/world.ts";

let world: World;

beforeAll(async () => {
  world = await startWorld();
});

afterAll(async () => {
  await world?.stop();
});

describe("pywa's recorded status webhooks", () => {
  it("sent, delivered, read of one message give Bitrix24 exactly one delivery report", async () => {
    const recorded = fixtureJson<Record<"sent" | "delivered" | "read", any>>("meta/pywa_message_status.json");
    const wamid = recorded.sent.entry[0].changes[0].value.statuses[0].id as string;
    const customer = recorded.sent.entry[0].changes[0].value.statuses[0].recipient_id as string;
    const { conversations } = await getRuntime();
    await conversations.putOutbound({
      wamid,
      phoneId: PHONE_ID,
      memberId: world.memberId,
      customerId: customer,
      status: "accepted",
      origin: { kind: "openlines", lineId: 1, chatId: `wa:${customer}`, imChatId: "1807", imMessageId: "1" },
      createdAt: new Date().toISOString(),
    });
    const portal = world.bitrix.portal(world.memberId);
    const reports = () => portal.deliveryStatuses.filter((s) => JSON.stringify(s).includes(wamid));
    for (const status of ["sent", "delivered", "read"] as const) {
      expect((await world.postWebhook(forOurNumber(recorded[status]))).status).toBe(200);
      // `sent` is Meta's acceptance only and is not written: the record stays as the send left it.
      const stored = status === "sent" ? "accepted" : status;
      await world.stack.settled();
      expect((await conversations.getOutbound(wamid))?.status).toBe(stored);
    }
    expect(reports()).toHaveLength(1);
    expect(reports()[0]?.items[0]).toMatchObject({ message: { id: [wamid] } });
  });
});
