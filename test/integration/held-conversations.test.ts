import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { getRuntime } from "#shared/runtime.ts";
import type { RecordedRequest } from "../fakes/http-fake.ts";
import { eventually } from "../support/stack.ts";
import { PHONE_ID, startWorld, textWebhook, type World } from "../support/world.ts";

/**
 * A conversation with a message in the dead-letter list is held: its later messages wait behind it (as
 * dead letters that say so) and a redrive brings them all back in their order; other conversations go
 * on. Bitrix24 refuses chosen messages on their own (`DATA.RESULT[i].SUCCESS: false`, which the worker
 * treats as permanent), or a whole call (`ERROR_ARGUMENT`, HTTP 400: not retried).
 */
let world: World;
const refused = new Set<string>();
const refusedCalls = new Set<string>();

/** The WhatsApp message ids one `imconnector.send.messages` request carried. */
function carriedIds(r: Pick<RecordedRequest, "json">): string[] {
  return ((r.json as { MESSAGES?: Array<{ message: { id: string } }> } | undefined)?.MESSAGES ?? []).map(
    (m) => m.message.id,
  );
}

beforeAll(async () => {
  world = await startWorld({ DELIVERY_LEASE_SECONDS: "1" }, {}, { maxReceiveCount: 4 });
  world.bitrix.failMessagesWhere(world.memberId, (item) => refused.has(String(item.message.id)));
  // Bitrix24's error body: https://apidocs.bitrix24.com/api-reference/common/system/errors.html
  world.bitrix.inject({
    match: (req) =>
      req.path.endsWith("imconnector.send.messages") && carriedIds(req).some((id) => refusedCalls.has(id)),
    times: Number.POSITIVE_INFINITY,
    response: { status: 400, body: { error: "ERROR_ARGUMENT", error_description: "refused" } },
  });
});

afterAll(async () => {
  await world?.stop();
});

const portal = () => world.bitrix.portal(world.memberId);
/** The ids among `ids` that reached the open line (Bitrix24 took them), in arrival order (repeats kept). */
const shown = (ids: readonly string[]) =>
  portal()
    .messages.filter((m) => m.result.SUCCESS === true)
    .map((m) => String(m.message.id))
    .filter((id) => ids.includes(id));

async function letters(): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | undefined;
  do {
    const res = await world.stack.admin(
      "GET",
      `/api/admin/dead-letters?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    expect(res.status).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
  } while (cursor);
  return items;
}

/** The dead letters of the given WhatsApp messages (inbound) or operator texts (outbound), by message. */
async function lettersOf(keys: readonly string[]): Promise<Map<string, any>> {
  const found = new Map<string, any>();
  for (const letter of await letters()) {
    const text = JSON.stringify(letter.message ?? letter.body);
    for (const key of keys) if (text.includes(`"${key}"`)) found.set(key, letter);
  }
  return found;
}

async function lettersFor(keys: readonly string[]): Promise<Map<string, any>> {
  return eventually(async () => {
    const found = await lettersOf(keys);
    return found.size === keys.length ? found : undefined;
  });
}

async function post(from: string, ids: readonly string[]) {
  const res = await world.postWebhook(textWebhook(ids.map((id) => ({ id, from, body: `text of ${id}` }))));
  expect(res.status).toBe(200);
}

async function redrive(ids: readonly string[]) {
  const res = await world.stack.admin("POST", "/api/admin/dead-letters/redrive", { ids });
  expect(res.status).toBe(200);
  expect(res.body.failed).toEqual([]);
  return res.body.redriven as string[];
}

async function heldGroups(queue: string) {
  return (await getRuntime()).deadLetters.heldGroups(queue);
}

describe("a conversation with a dead letter", () => {
  it("holds its later messages behind it, lets other conversations go on, and a redrive delivers all in order", async () => {
    const a = ["wamid.held-a0", "wamid.held-a1", "wamid.held-a2", "wamid.held-a3"];
    const b = ["wamid.held-b0", "wamid.held-b1"];
    refused.add(a[0] as string);
    await post("15550660001", [a[0] as string]);
    const first = (await lettersFor([a[0] as string])).get(a[0] as string);
    expect(first).toMatchObject({ queue: "inbound", source: "worker" });
    expect(first.reason).toMatch(/did not accept/);
    expect(first).not.toHaveProperty("waitingBehind");
    expect(first.orderKey).toMatch(/^\d+$/);

    // Later messages, one webhook each, and another customer's meanwhile.
    for (const id of a.slice(1)) await post("15550660001", [id]);
    for (const id of b) await post("15550660002", [id]);
    const parked = await lettersFor(a);
    await eventually(async () => (shown(b).length === b.length ? true : undefined));
    await world.stack.settled();
    expect(shown(a)).toEqual([]);
    expect(shown(b)).toEqual(b);
    for (const id of a.slice(1)) {
      expect(parked.get(id)).toMatchObject({ waitingBehind: first.id, messageGroupId: first.messageGroupId });
      expect(parked.get(id).reason).toContain(`waits behind dead letter ${first.id}`);
    }
    const keys = a.map((id) => BigInt(parked.get(id).orderKey));
    expect([...keys].sort((x, y) => (x < y ? -1 : 1))).toEqual(keys);
    expect(await heldGroups("inbound")).toContain(first.messageGroupId);

    // Bitrix24 takes it now; the redrive is asked for newest first, and still goes in order.
    refused.delete(a[0] as string);
    const ids = a.map((id) => parked.get(id).id);
    expect((await redrive([...ids].reverse())).sort()).toEqual([...ids].sort());
    await eventually(async () => (shown(a).length === a.length ? true : undefined));
    await world.stack.settled();
    expect(shown(a)).toEqual(a);
    expect((await lettersOf(a)).size).toBe(0);
    expect(await heldGroups("inbound")).not.toContain(first.messageGroupId);

    // Released: the conversation's next message goes straight through.
    await post("15550660001", ["wamid.held-a4"]);
    await eventually(async () => (shown(["wamid.held-a4"]).length === 1 ? true : undefined));
  });

  it("keeps the rest waiting when the redriven message fails again", async () => {
    const d = ["wamid.held-d0", "wamid.held-d1", "wamid.held-d2"];
    refused.add(d[0] as string);
    for (const id of d) await post("15550660004", [id]);
    const before = await lettersFor(d);
    await world.stack.settled();

    // Redriven while Bitrix24 still refuses it: it is a dead letter again, the others wait again.
    await redrive(d.map((id) => before.get(id).id));
    const again = await eventually(async () => {
      const found = await lettersOf(d);
      return found.size === d.length &&
        [...found.values()].every((l) => l.failedAt > before.get(d[0] as string).failedAt)
        ? found
        : undefined;
    });
    await world.stack.settled();
    expect(shown(d)).toEqual([]);
    const blocker = again.get(d[0] as string);
    expect(blocker.id).toBe(before.get(d[0] as string).id);
    expect(blocker.orderKey).toBe(before.get(d[0] as string).orderKey);
    expect(blocker).not.toHaveProperty("waitingBehind");
    for (const id of d.slice(1)) {
      expect(again.get(id)).toMatchObject({ id: before.get(id).id, waitingBehind: blocker.id });
    }

    refused.delete(d[0] as string);
    await redrive(d.map((id) => again.get(id).id));
    await eventually(async () => (shown(d).length === d.length ? true : undefined));
    await world.stack.settled();
    expect(shown(d)).toEqual(d);
  });

  it("releases the rest in order once the blocking dead letter is deleted", async () => {
    const e = ["wamid.held-e0", "wamid.held-e1", "wamid.held-e2"];
    refused.add(e[0] as string);
    for (const id of e) await post("15550660005", [id]);
    const held = await lettersFor(e);
    await world.stack.settled();
    const blocker = held.get(e[0] as string);

    expect((await world.stack.admin("DELETE", `/api/admin/dead-letters/${blocker.id}`)).status).toBe(204);
    expect((await world.stack.admin("DELETE", `/api/admin/dead-letters/${blocker.id}`)).status).toBe(404);
    expect([...(await lettersOf(e)).keys()].sort()).toEqual(e.slice(1));
    // The ones that waited are still letters (they hold the conversation) until redriven.
    await redrive(e.slice(1).map((id) => held.get(id).id));
    await eventually(async () => (shown(e.slice(1)).length === 2 ? true : undefined));
    await world.stack.settled();
    expect(shown(e)).toEqual(e.slice(1));
    expect(await heldGroups("inbound")).not.toContain(blocker.messageGroupId);
  });

  it("does not deliver later messages of the same queue batch after an earlier one gave up", async () => {
    const c = ["wamid.held-c0", "wamid.held-c1", "wamid.held-c2"];
    refusedCalls.add(c[0] as string);
    // One webhook: one batch for the worker, the messages one after another in one conversation.
    await post("15550660003", c);
    const held = await lettersFor(c);
    await world.stack.settled();
    expect(shown(c)).toEqual([]);
    expect(held.get(c[0] as string).reason).toMatch(/ERROR_ARGUMENT|refused/);
    for (const id of c.slice(1)) expect(held.get(id).waitingBehind).toBe(held.get(c[0] as string).id);

    refusedCalls.delete(c[0] as string);
    await redrive(c.map((id) => held.get(id).id));
    await eventually(async () => (shown(c).length === c.length ? true : undefined));
    await world.stack.settled();
    expect(shown(c)).toEqual(c);
  });
});

describe("an operator's conversation with a dead letter", () => {
  let lineId: number;
  let imId = 70_000;
  /** The customer writes first (the window opens); then the operator's texts go to them in order. */
  async function openChat(customer: string) {
    const opener = textWebhook([{ id: `wamid.held-open-${customer}`, from: customer, body: "hello" }]);
    // The window is open from the customer's message on: it must be recent.
    (opener.entry[0]?.changes[0]?.value.messages[0] as { timestamp: string }).timestamp = String(
      Math.floor(Date.now() / 1000),
    );
    expect((await world.postWebhook(opener)).status).toBe(200);
    await eventually(async () => (shown([`wamid.held-open-${customer}`]).length === 1 ? true : undefined));
    lineId = (await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body.line.id;
  }
  /** One ONIMCONNECTORMESSAGEADD carrying the texts, as Bitrix24 posts an operator's messages. */
  async function operatorWrites(customer: string, texts: readonly string[]) {
    const results = await world.bitrix.deliverEvent(world.memberId, "ONIMCONNECTORMESSAGEADD", {
      CONNECTOR: CONNECTOR_ID,
      LINE: lineId,
      MESSAGES: texts.map((text) => ({
        im: { chat_id: 1807, message_id: ++imId },
        message: { user_id: 27, text },
        chat: { id: `wa:${customer}` },
      })),
    });
    expect(results.map((r) => r.status)).toEqual([200]);
  }
  const sentTexts = (customer: string, texts: readonly string[]) =>
    world.meta
      .messagesTo(customer)
      .map((m) => String((m.body.text as { body?: string } | undefined)?.body ?? ""))
      .map((body) => texts.find((t) => body.includes(t)))
      .filter((t): t is string => t !== undefined);
  /**
   * Meta refuses the first text for good (131026: not retried, the operator is told) and Bitrix24
   * refuses that note while `refusing()`: nothing can be done with it, and it becomes a dead letter.
   */
  function refuseFirst(first: string, refusing: () => boolean) {
    world.meta.failNext(
      (req) => req.path.endsWith("/messages") && JSON.stringify(req.json ?? {}).includes(first),
      131026,
    );
    world.bitrix.failMessagesWhere(
      world.memberId,
      (item) => refusing() && String(item.message.id).startsWith("note:"),
    );
  }
  const outboundLetters = async (texts: readonly string[]) =>
    (await letters()).filter(
      (l) => l.queue === "outbound" && texts.some((t) => JSON.stringify(l.message).includes(t)),
    );

  it("holds the operator's later messages to WhatsApp behind it; a redrive sends all in order", async () => {
    const customer = "15550660009";
    await openChat(customer);
    const texts = ["held out 0", "held out 1", "held out 2"];
    let refusing = true;
    refuseFirst(texts[0] as string, () => refusing);

    await operatorWrites(customer, [texts[0] as string]);
    const [first] = await eventually(async () => {
      const found = await outboundLetters([texts[0] as string]);
      return found.length === 1 ? found : undefined;
    });
    await operatorWrites(customer, [texts[1] as string]);
    await operatorWrites(customer, [texts[2] as string]);
    const parked = await eventually(async () => {
      const found = await outboundLetters(texts.slice(1));
      return found.length === 2 ? found : undefined;
    });
    await world.stack.settled();
    expect(sentTexts(customer, texts)).toEqual([]);
    for (const letter of parked) expect(letter.waitingBehind).toBe(first.id);
    expect(await heldGroups("outbound")).toContain(first.messageGroupId);

    refusing = false;
    await redrive([first.id, ...parked.map((l) => l.id)]);
    await eventually(async () => (sentTexts(customer, texts).length === texts.length ? true : undefined));
    await world.stack.settled();
    expect(sentTexts(customer, texts)).toEqual(texts);
    expect(await heldGroups("outbound")).not.toContain(first.messageGroupId);
  });

  it("does not send the later messages of one event after the first gave up", async () => {
    const customer = "15550660010";
    await openChat(customer);
    const texts = ["batch out 0", "batch out 1", "batch out 2"];
    let refusing = true;
    refuseFirst(texts[0] as string, () => refusing);
    // One event, three messages: one queue batch for the worker, in order.
    await operatorWrites(customer, texts);
    const held = await eventually(async () => {
      const found = await outboundLetters(texts);
      return found.length === 3 ? found : undefined;
    });
    await world.stack.settled();
    expect(sentTexts(customer, texts)).toEqual([]);
    const first = held.find((l) => JSON.stringify(l.message).includes(texts[0] as string));
    expect(first).not.toHaveProperty("waitingBehind");
    for (const letter of held.filter((l) => l !== first)) expect(letter.waitingBehind).toBe(first.id);

    refusing = false;
    await redrive(held.map((l) => l.id));
    await eventually(async () => (sentTexts(customer, texts).length === texts.length ? true : undefined));
    await world.stack.settled();
    expect(sentTexts(customer, texts)).toEqual(texts);
  });
});
