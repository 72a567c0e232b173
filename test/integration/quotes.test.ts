import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { fixtureJson } from "../fixtures.ts";
import { eventually } from "../support/stack.ts";
import { forOurNumber, PHONE_ID, startWorld, type World } from "../support/world.ts";

let world: World;

beforeAll(async () => {
  world = await startWorld();
});

afterAll(async () => {
  await world?.stop();
});

const CUSTOMER = "16505551234";
const delivered = (id: string) =>
  eventually(async () => world.bitrix.portal(world.memberId).messages.find((m) => m.message.id === id));

/** Meta's documented text webhook to our number, as a new message (optionally a reply to `context`). */
function customerWrites(id: string, body: string, context?: string) {
  const payload = forOurNumber(fixtureJson<any>("meta/webhook_text.json"));
  Object.assign(payload.entry[0].changes[0].value.messages[0], {
    id,
    timestamp: String(Math.floor(Date.now() / 1000)),
    text: { body },
    ...(context ? { context: { from: "15550783881", id: context } } : {}),
  });
  return payload;
}

describe("replies and reactions quote what they answer", () => {
  it("shows the text of the customer's own earlier message a reply quotes", async () => {
    await world.postWebhook(customerWrites("wamid.q-original", "Do you ship to Lisbon?"));
    await delivered("wamid.q-original");
    await world.postWebhook(customerWrites("wamid.q-reply", "Or Porto?", "wamid.q-original"));
    const reply = await delivered("wamid.q-reply");
    expect(reply.message.text).toBe("[i]Reply to “Do you ship to Lisbon?”[/i]\nOr Porto?");
  });

  it("names the operator's message a reaction reacts to by its text", async () => {
    const lineId = (await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body.line.id;
    await world.bitrix.deliverEvent(world.memberId, "ONIMCONNECTORMESSAGEADD", {
      CONNECTOR: CONNECTOR_ID,
      LINE: lineId,
      MESSAGES: [
        {
          im: { chat_id: 1903, message_id: 91_001 },
          message: { user_id: 27, text: "Yes, we ship everywhere" },
          chat: { id: `wa:${CUSTOMER}` },
        },
      ],
    });
    const [sent] = await eventually(async () => {
      const list = world.meta.messagesTo(CUSTOMER);
      return list.length > 0 ? list : undefined;
    });
    // Meta's documented reaction webhook, reacting to the message we sent.
    const reaction = forOurNumber(fixtureJson<any>("meta/webhook_reaction.json"));
    Object.assign(reaction.entry[0].changes[0].value.messages[0], { id: "wamid.q-reaction" });
    reaction.entry[0].changes[0].value.messages[0].reaction.message_id = sent!.wamid;
    await world.postWebhook(reaction);
    const shown = await delivered("wamid.q-reaction");
    expect(shown.message.text).toContain("(to “Yes, we ship everywhere”)");
  });
});
