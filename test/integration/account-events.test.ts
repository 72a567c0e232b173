import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { fixtureJson } from "../fixtures.ts";
import { eventually } from "../support/stack.ts";
import { forOurNumber, PHONE_ID, startWorld, WABA_ID, type World } from "../support/world.ts";

let world: World;
let lineId: number;

beforeAll(async () => {
  world = await startWorld();
  world.meta.setTemplates(
    WABA_ID,
    fixtureJson<{ data: unknown[] }>("meta/message_templates_list_response.json").data,
  );
  lineId = (await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body.line.id;
});

afterAll(async () => {
  await world?.stop();
});

const portal = () => world.bitrix.portal(world.memberId);

async function post(payload: unknown) {
  expect((await world.postWebhook(payload)).status).toBe(200);
}

async function events(query = "") {
  const res = await world.stack.admin("GET", `/api/admin/events${query}`);
  expect(res.status).toBe(200);
  return res.body.items as any[];
}

const FIXTURES: [string, string, boolean][] = [
  ["webhook_account_update_account_restriction", "ACCOUNT_RESTRICTION", true],
  ["webhook_account_update_partner_removed", "PARTNER_REMOVED", true],
  ["webhook_account_update_account_offboarded", "ACCOUNT_OFFBOARDED", true],
  ["webhook_account_update_account_violation", "ACCOUNT_VIOLATION", true],
  ["webhook_account_update_disabled_update", "DISABLED_UPDATE", true],
  ["webhook_account_update_account_deleted", "ACCOUNT_DELETED", true],
  ["webhook_phone_number_quality_update", "THROUGHPUT_UPGRADE", false],
  ["webhook_template_status_rejected", "REJECTED", true],
  ["webhook_template_quality_update", "YELLOW", true],
];

describe("account and compliance events", () => {
  it("stores every account event type, lists it newest first, and notifies the portal's administrators of the serious ones", async () => {
    // Meta's examples share one time; each gets its own second so "latest" is well defined.
    const posted = new Map<string, unknown>();
    for (const [i, [name]] of FIXTURES.entries()) {
      const payload = forOurNumber(fixtureJson<any>(`meta/${name}.json`));
      payload.entry[0].time = 1_743_451_903 + i;
      posted.set(name, payload);
      await post(payload);
    }
    const prefs = forOurNumber(fixtureJson<any>("meta/webhook_user_preferences_marketing.json"));
    Object.assign(prefs.entry[0].changes[0].value.user_preferences[0], {
      value: "stop",
      detail: "User requested to stop marketing messages",
      timestamp: Math.floor(Date.now() / 1000),
    });
    await post(prefs);

    const all = await eventually(async () => {
      const items = await events();
      return items.length >= FIXTURES.length + 1 ? items : undefined;
    });
    expect(new Set(all.map((e) => e.type))).toEqual(
      new Set([
        "account_update",
        "phone_number_quality_update",
        "message_template_status_update",
        "message_template_quality_update",
        "user_preferences",
      ]),
    );
    for (const [, event, serious] of FIXTURES) {
      const found = all.find((e) => e.event === event);
      expect(found, event).toBeDefined();
      expect(found.serious).toBe(serious);
      expect(found.wabaId).toBe(WABA_ID);
    }
    const times = all.map((e) => e.at);
    expect([...times].sort().reverse()).toEqual(times);

    const rejected = all.find((e) => e.event === "REJECTED");
    expect(rejected.summary).toContain("abandoned_cart");
    expect(rejected.summary).toContain("INVALID_FORMAT");

    // The quality update names our number by its display number: it is filed under the phone.
    expect(
      (await events(`?phoneId=${PHONE_ID}&type=phone_number_quality_update`)).map((e) => e.event),
    ).toEqual(["THROUGHPUT_UPGRADE"]);
    expect((await events("?type=account_update")).map((e) => e.event).sort()).toEqual([
      "ACCOUNT_DELETED",
      "ACCOUNT_OFFBOARDED",
      "ACCOUNT_RESTRICTION",
      "ACCOUNT_VIOLATION",
      "DISABLED_UPDATE",
      "PARTNER_REMOVED",
    ]);
    const restricted = all.find((e) => e.event === "ACCOUNT_RESTRICTION");
    expect(restricted.summary).toContain("RESTRICTED_BIZ_INITIATED_MESSAGING until 2022-01-04");
    expect(await events("?wabaId=999")).toEqual([]);

    // Redelivered: stored once, notified once (the tag replaces).
    const serious = FIXTURES.filter(([, , s]) => s).length;
    await eventually(async () => (portal().notifications.length >= serious ? true : undefined));
    await post(posted.get("webhook_account_update_account_violation"));
    await new Promise((r) => setTimeout(r, 1000));
    const notified = portal().notifications;
    expect(notified).toHaveLength(serious);
    expect(notified.some((n) => n.message.includes("ADULT"))).toBe(true);
    expect(new Set(notified.map((n) => n.userId))).toEqual(new Set([portal().userId]));
    expect((await events("?type=account_update")).length).toBe(6);
  });

  it("shows the latest status on the WABA and the quality on the phone", async () => {
    const waba = await eventually(async () => {
      const res = await world.stack.admin("GET", `/api/admin/wabas/${WABA_ID}`);
      return res.body.accountState?.status ? res.body : undefined;
    });
    // The newest of the three account updates by Meta's time; the redelivered older one did not win.
    expect(waba.accountState.status.event).toBe("ACCOUNT_DELETED");
    expect(waba.accountState.restrictions.items.map((r: any) => r.restriction_type)).toEqual([
      "RESTRICTED_BIZ_INITIATED_MESSAGING",
      "RESTRICTED_ADD_PHONE_NUMBER_ACTION",
    ]);
    const phone = await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`);
    expect(phone.body.accountState.quality.event).toBe("THROUGHPUT_UPGRADE");
  });

  it("refuses a MARKETING template to a customer who stopped marketing messages, before Meta is called", async () => {
    const customer = "16505551234";
    const before = world.meta.messagesTo(customer).length;
    await world.bitrix.deliverEvent(world.memberId, "ONIMCONNECTORMESSAGEADD", {
      CONNECTOR: CONNECTOR_ID,
      LINE: lineId,
      MESSAGES: [
        {
          im: { chat_id: 1901, message_id: 81_001 },
          message: { user_id: 27, text: "template-hello_world+en_US" },
          chat: { id: `wa:${customer}` },
        },
      ],
    });
    const note = await eventually(async () =>
      portal().messages.find(
        (m) => String(m.message.id).startsWith("note:") && m.chat.id === `wa:${customer}`,
      ),
    );
    expect(note.message.text).toContain("stopped marketing messages");
    expect(note.message.text).toContain("131050");
    expect(world.meta.messagesTo(customer).length).toBe(before);
  });
});
