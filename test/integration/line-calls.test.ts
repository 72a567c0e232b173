import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/stack.ts";
import { startWorld, textWebhook, type World } from "../support/world.ts";

let world: World;

beforeAll(async () => {
  world = await startWorld();
});

afterAll(async () => {
  await world?.stop();
});

const sendCalls = () => world.bitrix.callCount("imconnector.send.messages", world.memberId);
const ours = (prefix: string) =>
  world.bitrix.portal(world.memberId).messages.filter((m) => String(m.message.id).startsWith(prefix));

describe("Bitrix24 calls per message", () => {
  it("puts ten messages of one conversation that arrive together into one call, in order", async () => {
    // One webhook, so the ten events are queued by one SendMessageBatch and received as one batch: the
    // worker prepares them one after another, and the call waits for each next one to join.
    const before = sendCalls();
    const texts = Array.from({ length: 10 }, (_, i) => ({
      id: `wamid.together-${i}`,
      from: "16505550900",
      body: `t${i}`,
    }));
    expect((await world.postWebhook(textWebhook(texts))).status).toBe(200);
    const got = await eventually(async () => {
      const delivered = ours("wamid.together-");
      return delivered.length === 10 ? delivered : undefined;
    });
    await world.stack.settled();
    expect(got.map((m) => m.message.text)).toEqual(texts.map((t) => t.body));
    expect(sendCalls() - before).toBe(1);
  });
});
