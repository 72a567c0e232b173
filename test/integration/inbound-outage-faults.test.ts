import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRuntime } from "#shared/runtime.ts";
import { byConversation, FULL, judge } from "../support/faults.ts";
import { eventually } from "../support/stack.ts";
import { startWorld, textWebhook, type World } from "../support/world.ts";

/**
 * A total Bitrix24 outage longer than the retry budget (four minutes under `npm run test:faults`). The
 * stack gives each message 4 receives a second apart, so the first message of each conversation becomes
 * a dead letter and the rest of the conversation waits behind it; once Bitrix24 is back, the admin API
 * redrives everything and every message arrives once, in its conversation's order. Its own stack: the
 * queues' receive count is set when they are made, and the other fault tests need the long budget.
 */
const OUTAGE_MS = FULL ? 240_000 : 12_000;
const ROUNDS = 10;
const CUSTOMERS = 6;

let world: World;

beforeAll(async () => {
  world = await startWorld(
    { HTTP_TIMEOUT_MS: "400", RETRY_BASE_SECONDS: "1", RETRY_MAX_SECONDS: "1" },
    // Enterprise budget (250 burst, 5/s): the test is about the outage, not pacing.
    { licenseFamily: "ent" },
    { maxReceiveCount: 4 },
  );
});

afterAll(async () => {
  await world?.stop();
});

describe("a total Bitrix24 outage longer than the retry budget", () => {
  it("holds the conversations it dead-letters, and the redrive delivers everything once, in order", async () => {
    const until = Date.now() + OUTAGE_MS;
    world.bitrix.inject({
      match: (req) => req.path.includes("/rest/") && Date.now() < until,
      times: Number.POSITIVE_INFINITY,
      response: { status: 500, body: { error: "INTERNAL_SERVER_ERROR", error_description: "down" } },
    });
    const sent = Array.from({ length: ROUNDS * CUSTOMERS }, (_, i) => ({
      id: `wamid.held-${i % CUSTOMERS}-${Math.floor(i / CUSTOMERS)}`,
      from: `155509600${String(i % CUSTOMERS).padStart(2, "0")}`,
      body: `held ${i % CUSTOMERS} #${Math.floor(i / CUSTOMERS)}`,
    }));
    // Spread over the outage's first half: later messages find their conversations already held.
    for (let i = 0; i < sent.length; i += CUSTOMERS) {
      expect((await world.postWebhook(textWebhook(sent.slice(i, i + CUSTOMERS)))).status).toBe(200);
      await new Promise((r) => setTimeout(r, OUTAGE_MS / 2 / ROUNDS));
    }
    const { deadLetters } = await getRuntime();
    const ours = async () =>
      (await deadLetters.list(undefined, 1000)).items.filter((l) => l.body.includes("wamid.held-"));
    // Bitrix24 is back, and every message is delivered or a dead letter.
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())));
    await world.stack.settled(120_000);
    const letters = await ours();
    const conversations = new Set(letters.map((l) => l.messageGroupId));
    const waited = letters.filter((l) => l.waitingBehind !== undefined).length;
    expect(conversations.size).toBeGreaterThan(0);
    expect(waited).toBeGreaterThan(0);

    const redrive = await world.stack.admin("POST", "/api/admin/dead-letters/redrive", {});
    expect(redrive.status).toBe(200);
    expect(redrive.body.failed).toEqual([]);
    const portal = world.bitrix.portal(world.memberId);
    const arrived = () =>
      portal.messages
        .filter((m) => m.result.SUCCESS === true && String(m.message.id).startsWith("wamid.held-"))
        .map((m) => String(m.message.id));
    await eventually(
      async () => (new Set(arrived()).size === sent.length ? true : undefined),
      FULL ? 300_000 : 120_000,
    );
    await world.stack.settled(60_000);
    const verdict = judge(byConversation(sent.map((m) => m.id)), byConversation(arrived()), new Set());
    console.log(
      `held: ${letters.length} dead letters in ${conversations.size} conversations, ${waited} messages ` +
        `waited behind them, redrive: ${verdict.lost} lost, ${verdict.duplicated} duplicated, ` +
        `${verdict.orderViolations} order violations`,
    );
    expect(verdict).toMatchObject({ lost: 0, duplicated: 0, orderViolations: 0 });
    expect(await ours()).toHaveLength(0);
    expect(await deadLetters.heldGroups("inbound")).toEqual(new Set());
  }, 900_000);
});
