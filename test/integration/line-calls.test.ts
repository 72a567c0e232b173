import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/stack.ts";
import { keepNextSendOut, startWorld, textWebhook, type World } from "../support/world.ts";

let world: World;

beforeAll(async () => {
  // Enough concurrent invocations that messages arriving while one waits on Bitrix24 are still taken.
  world = await startWorld({}, {}, { pollerConcurrency: 8 });
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

  it("holds what arrives while the line's call is out for the next call, instead of a call each", async () => {
    // The first call answers late (a slow portal, 1.5 s, then a 500: its message is retried); five
    // customers write one after another meanwhile, each taken by an invocation of its own and reaching
    // the line at its own moment.
    keepNextSendOut(world.bitrix);
    expect(
      (await world.postWebhook(textWebhook([{ id: "wamid.slow-0", from: "16505550910", body: "s0" }])))
        .status,
    ).toBe(200);
    await eventually(async () =>
      world.bitrix
        .requestsTo("/rest/imconnector.send.messages")
        .some((r) => r.rawBody.includes("wamid.slow-0"))
        ? true
        : undefined,
    );
    const others = [1, 2, 3, 4, 5].map((i) => ({
      id: `wamid.slow-${i}`,
      from: `1650555092${i}`,
      body: `s${i}`,
    }));
    for (const m of others) {
      expect((await world.postWebhook(textWebhook([m]))).status).toBe(200);
      await new Promise((r) => setTimeout(r, 100));
    }
    await eventually(async () => (ours("wamid.slow-").length === 6 ? true : undefined), 20_000);
    const carrying = world.bitrix
      .requestsTo("/rest/imconnector.send.messages")
      .filter((r) => others.some((m) => r.rawBody.includes(m.id)));
    expect(carrying).toHaveLength(1);
  });
});
