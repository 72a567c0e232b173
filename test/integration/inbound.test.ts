import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WORKER_TOKEN_RESERVE } from "#shared/adapters/dynamodb/rate-limiter.ts";
import { getRuntime } from "#shared/runtime.ts";
import { fixtureJson } from "../fixtures.ts";
import { eventually } from "../support/stack.ts";
import {
  forOurNumber,
  keepNextSendOut,
  textWebhook as oneChange,
  PHONE_ID,
  startWorld,
  type World,
} from "../support/world.ts";

let world: World;

beforeAll(async () => {
  world = await startWorld();
});

afterAll(async () => {
  await world?.stop();
});

const messages = () => world.bitrix.portal(world.memberId).messages;

/** A documented webhook, re-addressed to our number, its message given its own id. */
function fixtureMessage(name: string, id: string, patch: (m: any) => void = () => undefined) {
  const payload = forOurNumber(fixtureJson<any>(`meta/${name}.json`));
  const message = payload.entry[0].changes[0].value.messages[0];
  message.id = id;
  patch(message);
  return payload;
}

function textWebhook(id: string, from: string, body: string, name = "Sheena Nelson") {
  return oneChange([{ id, from, body, name }]);
}

async function delivered(id: string) {
  return eventually(async () => messages().find((m) => m.message.id === id));
}

describe("messages into the open line", () => {
  it("delivers a text with a stable user = chat id, the profile name and the phone", async () => {
    expect((await world.postWebhook(fixtureMessage("webhook_text", "wamid.text-1"))).status).toBe(200);
    const m = await delivered("wamid.text-1");
    expect(m.message.text).toBe("Does it come in another color?");
    expect(m.user).toMatchObject({
      id: "wa:16505551234",
      name: "Sheena",
      last_name: "Nelson",
      phone: "+16505551234",
    });
    expect(m.chat.id).toBe(m.user.id);
    expect(String(m.line)).toBe(
      String((await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body.line.id),
    );
  });

  it.each([
    ["webhook_image", "1003383421387256", "image/jpeg", "Taj Mahal"],
    ["webhook_video", "731675419373506", "video/mp4", undefined],
    ["webhook_document", "622684793477189", "application/pdf", undefined],
    ["webhook_audio_voice", "1908647269898587", "audio/ogg; codecs=opus", "Voice message"],
    ["webhook_sticker", "1908647269898587", "image/webp", undefined],
  ])(
    "fetches %s from Meta into S3 and hands Bitrix24 a working presigned URL",
    async (name, mediaId, mime, text) => {
      const bytes = Buffer.from(`${name} bytes ${Math.random()}`);
      world.meta.addMedia(mediaId, { mimeType: mime, bytes });
      const id = `wamid.${name}`;
      expect((await world.postWebhook(fixtureMessage(name, id))).status).toBe(200);
      const m = await delivered(id);
      if (text) expect(m.message.text).toContain(text);
      const files = m.message.files as { url: string; name: string }[];
      expect(files).toHaveLength(1);
      expect(files[0]?.name.length).toBeLessThanOrEqual(50);
      const download = await fetch(files[0]!.url);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
    },
  );

  it.each([
    ["webhook_reaction", /reacted/i],
    ["webhook_button_template_quick_reply", /.+/],
    ["webhook_interactive_button_reply", /.+/],
    ["webhook_interactive_list_reply", /.+/],
    ["webhook_location", /maps\.google\.com/],
    ["webhook_contacts", /.+/],
    ["webhook_order", /.+/],
    ["webhook_referral", /.+/],
    ["webhook_system", /number/i],
    ["webhook_unsupported", /131051/],
    ["webhook_edit", /edit/i],
    ["webhook_revoke", /delet/i],
    ["webhook_text_message_business_button", /.+/],
  ])("turns %s into readable text in the chat", async (name, pattern) => {
    const id = `wamid.${name}`;
    expect((await world.postWebhook(fixtureMessage(name, id))).status).toBe(200);
    const m = await delivered(id);
    expect(m.message.text).toMatch(pattern);
  });

  it("turns a flow reply (nfm_reply) into readable fields", async () => {
    const fragment = fixtureJson<any>("meta/webhook_fragment_interactive_nfm_reply.json");
    const message = {
      ...fragment.messages[0],
      id: "wamid.flow",
      from: "16505551234",
      timestamp: "1749416383",
    };
    const payload = textWebhook("unused", "16505551234", "x");
    payload.entry[0]!.changes[0]!.value.messages = [message];
    expect((await world.postWebhook(payload)).status).toBe(200);
    const m = await delivered("wamid.flow");
    expect(m.message.text).toMatch(/optional_param1/);
  });

  it("shows the ad a customer came from as the chat URL", async () => {
    const m = await delivered("wamid.webhook_referral");
    expect(typeof m.chat.url).toBe("string");
  });

  it("records the customer's last contact for the 24-hour window", async () => {
    const { conversations } = await getRuntime();
    const conversation = await conversations.getConversation(PHONE_ID, "16505551234");
    expect(conversation?.lastInboundAt).toBeTruthy();
  });
});

describe("exactly once, in order", () => {
  it("delivers every message of a batched webhook once (3 entries × 2 changes × 3 messages); a repost adds nothing", async () => {
    const base = textWebhook("x", "16505550001", "x");
    const value = base.entry[0]!.changes[0]!.value;
    const payload = {
      object: "whatsapp_business_account",
      entry: [1, 2, 3].map((e) => ({
        id: base.entry[0]!.id,
        changes: [1, 2].map((c) => ({
          field: "messages",
          value: {
            ...value,
            messages: [1, 2, 3].map((n) => ({
              ...value.messages[0]!,
              id: `wamid.b-${e}-${c}-${n}`,
              text: { body: `${e}${c}${n}` },
            })),
          },
        })),
      })),
    };
    expect((await world.postWebhook(payload)).status).toBe(200);
    await eventually(async () =>
      messages().filter((m) => String(m.message.id).startsWith("wamid.b-")).length === 18 ? true : undefined,
    );
    expect((await world.postWebhook(payload)).status).toBe(200);
    await world.stack.settled();
    const batch = messages().filter((m) => String(m.message.id).startsWith("wamid.b-"));
    expect(batch).toHaveLength(18);
    expect(new Set(batch.map((m) => m.message.id)).size).toBe(18);
  });

  it("keeps 50 messages of one customer in order while other customers' messages interleave", async () => {
    // Each of a's messages is accepted before the next is posted (the order Meta sent them in); b's posts
    // run alongside. Two of a's posts in flight at once may be accepted either way round.
    const posts: Promise<Response>[] = [];
    for (let i = 0; i < 50; i++) {
      if (i % 5 === 0)
        posts.push(world.postWebhook(textWebhook(`wamid.order-b-${i}`, "16505550200", `b${i}`)));
      expect(
        (await world.postWebhook(textWebhook(`wamid.order-a-${i}`, "16505550100", `a${i}`))).status,
      ).toBe(200);
    }
    for (const p of posts) expect((await p).status).toBe(200);
    const got = await eventually(async () => {
      const a = messages().filter((m) => String(m.message.id).startsWith("wamid.order-a-"));
      return a.length === 50 ? a : undefined;
    }, 30_000);
    expect(got.map((m) => m.message.text)).toEqual(Array.from({ length: 50 }, (_, i) => `a${i}`));
  });

  it("a message already marked delivered is not sent again when it comes back on the queue", async () => {
    const { conversations } = await getRuntime();
    await conversations.markInboundDelivered("wamid.seen-before", { line: 1, attempt: 1 });
    const from = "16505550300";
    expect((await world.postWebhook(textWebhook("wamid.seen-before", from, "again"))).status).toBe(200);
    expect((await world.postWebhook(textWebhook("wamid.after-seen", from, "next"))).status).toBe(200);
    // Same conversation, so by the time the next message is in, the first one was handled.
    await delivered("wamid.after-seen");
    expect(messages().filter((x) => x.message.id === "wamid.seen-before")).toHaveLength(0);
  });
});

describe("statuses of messages we sent", () => {
  const out = (wamid: string) => ({
    wamid,
    phoneId: PHONE_ID,
    memberId: world.memberId,
    customerId: "16505551234",
    status: "accepted" as const,
    origin: {
      kind: "openlines" as const,
      lineId: 1,
      chatId: "wa:16505551234",
      imChatId: "1807",
      imMessageId: "86497",
    },
    createdAt: new Date().toISOString(),
  });
  const statusWebhook = (wamid: string, status: string, extra: Record<string, unknown> = {}) => {
    const payload = forOurNumber(fixtureJson<any>("meta/webhook_status_sent.json"));
    const s = payload.entry[0].changes[0].value.statuses[0];
    s.id = wamid;
    s.status = status;
    Object.assign(s, extra);
    return payload;
  };

  it("reports a delivery to Bitrix24 once: not for sent, once for delivered, not again for read", async () => {
    const { conversations } = await getRuntime();
    await conversations.putOutbound(out("wamid.out-once"));
    const portal = world.bitrix.portal(world.memberId);
    const reported = () =>
      portal.deliveryStatuses.filter((s) => JSON.stringify(s).includes("wamid.out-once")).length;
    await world.postWebhook(statusWebhook("wamid.out-once", "sent"));
    await world.stack.settled();
    // `sent` is Meta's acceptance only: neither reported nor written.
    expect((await conversations.getOutbound("wamid.out-once"))?.status).toBe("accepted");
    expect(reported()).toBe(0);
    await world.postWebhook(statusWebhook("wamid.out-once", "delivered"));
    await eventually(async () => (reported() > 0 ? true : undefined));
    await world.postWebhook(statusWebhook("wamid.out-once", "read"));
    await eventually(async () =>
      (await conversations.getOutbound("wamid.out-once"))?.status === "read" ? true : undefined,
    );
    expect(reported()).toBe(1);
    expect(portal.readingStatuses).toHaveLength(0);
  });

  it("reports delivered and read to Bitrix24, and ignores a late sent", async () => {
    const { conversations, tableClient } = await getRuntime();
    const budget = async () =>
      Number((await tableClient.get({ pk: `RATE#${world.memberId}`, sk: "RATE" }))?.version ?? 0);
    // Whatever the worker reserved from earlier writes has lapsed: these reports must take their own.
    await new Promise((r) => setTimeout(r, WORKER_TOKEN_RESERVE.forMs + 100));
    const spentBefore = await budget();
    await conversations.putOutbound(out("wamid.out-1"));
    const portal = world.bitrix.portal(world.memberId);
    await world.postWebhook(statusWebhook("wamid.out-1", "delivered"));
    await eventually(async () => (portal.deliveryStatuses.length > 0 ? true : undefined));
    await world.postWebhook(statusWebhook("wamid.out-1", "read"));
    await eventually(async () =>
      (await conversations.getOutbound("wamid.out-1"))?.status === "read" ? true : undefined,
    );
    await world.postWebhook(statusWebhook("wamid.out-1", "sent"));
    await world.stack.settled();
    expect((await conversations.getOutbound("wamid.out-1"))?.status).toBe("read");
    const ours = portal.deliveryStatuses.filter((s) => JSON.stringify(s).includes("wamid.out-1"));
    expect(ours).toHaveLength(1);
    // Status reports spend the portal's shared rate budget too (one request each).
    expect((await budget()) - spentBefore).toBe(ours.length);
  });

  it("puts a note with Meta's code and advice in the chat when a send failed", async () => {
    const { conversations } = await getRuntime();
    await conversations.putOutbound(out("wamid.out-2"));
    const errors = [
      {
        code: 131047,
        title: "Re-engagement message",
        message: "Re-engagement message",
        error_data: { details: "More than 24 hours" },
      },
    ];
    await world.postWebhook(statusWebhook("wamid.out-2", "failed", { errors }));
    const note = await eventually(async () =>
      messages().find((m) => String(m.message.text).includes("131047")),
    );
    expect(note.message.text).toMatch(/template-/);
  });

  it("records a status of a message sent elsewhere as unmatched, not as a dead letter", async () => {
    const { deadLetters } = await getRuntime();
    await world.postWebhook(statusWebhook("wamid.elsewhere", "delivered"));
    await eventually(async () =>
      world.stack.logs.some((l) => l.includes("inbound-worker")) ? true : undefined,
    );
    await world.stack.settled();
    const letters = await deadLetters.list();
    expect(letters.items.filter((l) => l.body.includes("wamid.elsewhere"))).toHaveLength(0);
  });
});

describe("media are streamed", () => {
  it("puts a file larger than one S3 part into S3 in parts, byte for byte", async () => {
    const bytes = Buffer.alloc(20 * 1024 * 1024 + 12_345);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i % 251;
    world.meta.addMedia("5550020", { mimeType: "video/mp4", bytes });
    await world.postWebhook(
      fixtureMessage("webhook_video", "wamid.big-video", (m) => (m.video.id = "5550020")),
    );
    const m = await delivered("wamid.big-video");
    const download = await fetch((m.message.files as { url: string }[])[0]!.url);
    expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
  });
});

describe("calls, other fields and unrouted events", () => {
  it("notes a WhatsApp call in the chat", async () => {
    const payload = forOurNumber(fixtureJson<any>("meta/calls_connect_user_initiated.json"));
    expect((await world.postWebhook(payload)).status).toBe(200);
    const note = await eventually(async () =>
      messages().find((m) => String(m.message.text).includes("WhatsApp call")),
    );
    expect(note.message.id).toMatch(/^note:call:/);
  });

  it.each([
    "webhook_template_status_approved",
    "webhook_account_update_disabled_update",
    "webhook_phone_number_quality_update",
  ])("records %s without touching Bitrix24", async (name) => {
    const before = messages().length;
    expect((await world.postWebhook(fixtureJson(`meta/${name}.json`))).status).toBe(200);
    await world.stack.settled();
    expect(messages().length).toBe(before);
  });

  it("acknowledges messages for a number that is not connected instead of retrying forever", async () => {
    const payload = textWebhook("wamid.unrouted", "16505559999", "hello");
    payload.entry[0]!.changes[0]!.value.metadata.phone_number_id = "999999";
    expect((await world.postWebhook(payload)).status).toBe(200);
    await world.stack.settled();
    const { deadLetters } = await getRuntime();
    expect((await deadLetters.list()).items.filter((l) => l.body.includes("wamid.unrouted"))).toHaveLength(0);
    expect(messages().some((m) => m.message.id === "wamid.unrouted")).toBe(false);
  });

  it("counts webhooks for a number that is not configured where the admin API shows them", async () => {
    for (const id of ["wamid.nobody-1", "wamid.nobody-2"]) {
      const payload = textWebhook(id, "16505559998", "hello?");
      payload.entry[0]!.changes[0]!.value.metadata.phone_number_id = "888888";
      expect((await world.postWebhook(payload)).status).toBe(200);
    }
    await world.stack.settled();
    const listed = await world.stack.admin("GET", "/api/admin/unrouted");
    expect(listed.status).toBe(200);
    expect(listed.body.items.find((i: any) => i.phoneNumberId === "888888")).toMatchObject({
      events: 2,
      lastEventId: "messages",
      lastAt: expect.any(String),
    });
  });
});

describe("failures", () => {
  it("retries a media download that failed and delivers the file", async () => {
    world.meta.addMedia("5550001", { mimeType: "image/jpeg", bytes: Buffer.from("retry me") });
    world.meta.failNext(/5550001/, 500, { times: 2 });
    await world.postWebhook(
      fixtureMessage("webhook_image", "wamid.media-retry", (m) => (m.image.id = "5550001")),
    );
    const m = await delivered("wamid.media-retry");
    expect((m.message.files as unknown[]).length).toBe(1);
  });

  it("tells the operator a file could not be fetched when Meta refuses for good", async () => {
    world.meta.failNext(/5550002/, 100, { times: 20 });
    await world.postWebhook(
      fixtureMessage("webhook_image", "wamid.media-gone", (m) => (m.image.id = "5550002")),
    );
    const m = await delivered("wamid.media-gone");
    expect(m.message.text).toMatch(/could not be fetched/);
  });

  it("retries Bitrix24's QUERY_LIMIT_EXCEEDED and 500s until the message lands", async () => {
    world.bitrix.failMethod(
      "imconnector.send.messages",
      { status: 503, error: "QUERY_LIMIT_EXCEEDED", error_description: "Too many requests" },
      { times: 3 },
    );
    world.bitrix.failMethod(
      "imconnector.send.messages",
      { status: 500, error: "INTERNAL_SERVER_ERROR", error_description: "x" },
      { times: 1 },
    );
    await world.postWebhook(textWebhook("wamid.limited", "16505550400", "eventually"));
    expect((await delivered("wamid.limited")).message.text).toBe("eventually");
  });

  it("keeps messages for a known number whose line was deleted as dead letters, not silent drops", async () => {
    const { body: phone } = await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`);
    // The line is really gone in Bitrix24 (sends to it are refused), and Bitrix24 tells us so. A warm
    // worker may still hold the phone for a few seconds; either way the message is kept.
    const portal = world.bitrix.portal(world.memberId);
    portal.lines.delete(phone.line.id);
    for (const key of [...portal.lineStatus.keys()]) {
      if (key.endsWith(`|${phone.line.id}`)) portal.lineStatus.delete(key);
    }
    await world.bitrix.deliverEvent(world.memberId, "ONIMCONNECTORLINEDELETE", phone.line.id);
    await eventually(async () =>
      (await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body.line === null ? true : undefined,
    );
    await world.postWebhook(textWebhook("wamid.lineless", "16505550600", "anyone there?"));
    const { deadLetters } = await getRuntime();
    const letter = await eventually(async () =>
      (await deadLetters.list()).items.find((l) => l.body.includes("wamid.lineless")),
    );
    expect(letter.reason).toMatch(/reconnect/);
    expect(
      (await world.stack.admin("PATCH", `/api/admin/phones/${PHONE_ID}`, {})).body.connector.status,
    ).toBe("active");
    const redrive = await world.stack.admin("POST", "/api/admin/dead-letters/redrive", { ids: [letter.id] });
    expect(redrive.body.redriven).toEqual([letter.id]);
    expect((await delivered("wamid.lineless")).message.text).toBe("anyone there?");
  });

  it("does not let one refused call take down the other conversations' messages sent with it", async () => {
    // The three must share a call, which timing alone does not promise: a first message whose call
    // answers late (then a 500, so it is retried) keeps the line busy while they arrive, and the
    // refusal is scripted for a call carrying more than one message.
    keepNextSendOut(world.bitrix);
    world.bitrix.failMethod(
      "imconnector.send.messages",
      { status: 400, error: "ERROR_ARGUMENT", error_description: "bad item" },
      { times: 1, when: (params) => Array.isArray(params.MESSAGES) && params.MESSAGES.length > 1 },
    );
    await world.postWebhook(textWebhook("wamid.shared-lead", "16505550700", "lead"));
    await world.bitrix.waitForRequest(
      (r) => r.path.startsWith("/rest/imconnector.send.messages") && r.rawBody.includes("wamid.shared-lead"),
      10_000,
    );
    const ids = ["wamid.shared-1", "wamid.shared-2", "wamid.shared-3"] as const;
    await world.postWebhook(
      oneChange([
        { id: ids[0], from: "16505550701", body: "one" },
        { id: ids[1], from: "16505550702", body: "two" },
        { id: ids[2], from: "16505550703", body: "three" },
      ]),
    );
    for (const id of [...ids, "wamid.shared-lead"]) await delivered(id);
    // The refused call carried all three; each then went on its own.
    const carrying = world.bitrix
      .requestsTo("/rest/imconnector.send.messages")
      .filter((r) => ids.some((id) => r.rawBody.includes(id)));
    expect(ids.every((id) => carrying[0]?.rawBody.includes(id))).toBe(true);
    const { deadLetters } = await getRuntime();
    expect((await deadLetters.list()).items.filter((l) => l.body.includes("wamid.shared-"))).toHaveLength(0);
  });

  it("marks the phone on NOT_ACTIVE_LINE and keeps the message as a dead letter with the reason", async () => {
    world.bitrix.failMethod(
      "imconnector.send.messages",
      { status: 400, error: "NOT_ACTIVE_LINE", error_description: "line off" },
      { times: 1 },
    );
    await world.postWebhook(textWebhook("wamid.inactive", "16505550500", "lost?"));
    const { deadLetters } = await getRuntime();
    const letter = await eventually(async () =>
      (await deadLetters.list()).items.find((l) => l.body.includes("wamid.inactive")),
    );
    expect(letter.reason).toMatch(/NOT_ACTIVE_LINE/);
    const phone = (await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body;
    expect(phone.connector.status).toBe("error");
    expect(
      (await world.stack.admin("PATCH", `/api/admin/phones/${PHONE_ID}`, {})).body.connector.status,
    ).toBe("active");
  });
});
