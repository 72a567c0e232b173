import { describe, expect, it } from "vitest";
import { describeInboundMessage, extensionForMime } from "#shared/domain/inbound-content.ts";
import { fixtureJson } from "../../fixtures.ts";

type Json = Record<string, any>;

/** The single `messages[]` item of a documented webhook fixture. */
const messageOf = (name: string): Json =>
  fixtureJson<any>(`meta/${name}.json`).entry[0].changes[0].value.messages[0];

const msg = (type: string, body: Json = {}): Json => ({
  from: "16505551234",
  id: "wamid.TEST",
  timestamp: "1750000000",
  type,
  ...body,
});

describe("describeInboundMessage: text", () => {
  it("passes the documented text through untouched", () => {
    expect(describeInboundMessage(messageOf("webhook_text"))).toEqual({
      text: "Does it come in another color?",
      kind: "text",
    });
  });

  it("notes the product a 'Message business' text is about and keeps the product message as the reply target", () => {
    expect(describeInboundMessage(messageOf("webhook_text_message_business_button"))).toEqual({
      text: "Is this still available?\n[i]About product di9ozbzfi4 from catalog 194836987003835[/i]",
      replyToWamid: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA",
      kind: "text",
    });
    const bare = msg("text", { text: { body: "hi" }, context: { referred_product: {} } });
    expect(describeInboundMessage(bare).text).toBe("hi\n[i]About product (unknown)[/i]");
  });

  it("marks forwarded and frequently forwarded messages", () => {
    const forwarded = msg("text", { text: { body: "look" }, context: { forwarded: true } });
    expect(describeInboundMessage(forwarded)).toEqual({ text: "[i]Forwarded[/i]\nlook", kind: "text" });
    const viral = msg("text", {
      text: { body: "look" },
      context: { forwarded: true, frequently_forwarded: true },
    });
    expect(describeInboundMessage(viral).text).toBe("[i]Forwarded many times[/i]\nlook");
  });

  it("never returns an empty text", () => {
    expect(describeInboundMessage(msg("text", { text: { body: "   " } })).text).toBe(
      "[i](empty message)[/i]",
    );
    expect(describeInboundMessage(msg("text")).text).toBe("[i](empty message)[/i]");
  });

  it("answers replies with the quoted wamid", () => {
    const reply = msg("text", {
      text: { body: "yes" },
      context: { from: "15550783881", id: "wamid.QUOTED" },
    });
    expect(describeInboundMessage(reply)).toEqual({
      text: "[i]Reply to an earlier message[/i]\nyes",
      replyToWamid: "wamid.QUOTED",
      kind: "text",
    });
    // With what we kept of the quoted message: its text, else its time.
    expect(describeInboundMessage(reply, [], { text: "Is it in blue?", at: 1750000000 }).text).toBe(
      "[i]Reply to “Is it in blue?”[/i]\nyes",
    );
    expect(describeInboundMessage(reply, [], { at: 1750000000 }).text).toBe(
      "[i]Reply to the message of 2025-06-15 15:06 UTC[/i]\nyes",
    );
  });
});

describe("describeInboundMessage: what third-party payloads showed getting lost", () => {
  it("keeps an image's caption when Meta attached an error to it", () => {
    // Meta's documented image webhook with a message-level error (meta-whatsapp.md §1: errors on inbound
    // messages), as recorded payloads of 131052 media download errors show.
    const image = {
      ...messageOf("webhook_image"),
      errors: [{ code: 131052, title: "Media download error" }],
    };
    const text = describeInboundMessage(image).text;
    expect(text.split("\n")[0]).toBe(messageOf("webhook_image").image.caption);
    expect(text).toContain("131052");
  });

  it("shows a value-level error for an interactive reply that came without its body, not 'unknown'", () => {
    const errors = fixtureJson<any>("meta/webhook_errors_value_level.json").entry[0].changes[0].value.errors;
    const text = describeInboundMessage(msg("interactive"), errors).text;
    expect(text).not.toContain("unknown");
    expect(text).toContain(String(errors[0].code));
  });

  it("shows no literal null for a flow reply with response_json: null", () => {
    const text = describeInboundMessage(
      msg("interactive", {
        interactive: { type: "nfm_reply", nfm_reply: { name: "flow", body: "Sent", response_json: null } },
      }),
    ).text;
    expect(text).not.toContain("null");
    expect(text).toBe("[b]Form submitted[/b]\nSent");
  });

  it("names the message a reaction reacts to by its text", () => {
    // pywa tests/data/updates/message.json "reaction"
    const reaction = msg("reaction", { reaction: { message_id: "wamid.yzxyzx=", emoji: "😮" } });
    expect(describeInboundMessage(reaction, [], { text: "Your order shipped" }).text).toBe(
      "Reacted 😮 [i](to “Your order shipped”)[/i]",
    );
  });
});

describe("describeInboundMessage: media", () => {
  it("uses the caption as text and names the image after its id and MIME type", () => {
    expect(describeInboundMessage(messageOf("webhook_image"))).toEqual({
      text: "Taj Mahal",
      media: {
        kind: "image",
        mediaId: "1003383421387256",
        mimeType: "image/jpeg",
        fileName: "image-21387256.jpg",
      },
      kind: "image",
    });
  });

  it("labels voice notes and keeps the voice flag", () => {
    expect(describeInboundMessage(messageOf("webhook_audio_voice"))).toEqual({
      text: "Voice message",
      media: {
        kind: "audio",
        mediaId: "1908647269898587",
        mimeType: "audio/ogg; codecs=opus",
        fileName: "audio-69898587.ogg",
        voice: true,
      },
      kind: "audio",
    });
    const audio = msg("audio", { audio: { id: "55", mime_type: "audio/mpeg" } });
    expect(describeInboundMessage(audio)).toEqual({
      text: "Audio",
      media: { kind: "audio", mediaId: "55", mimeType: "audio/mpeg", fileName: "audio-55.mp3" },
      kind: "audio",
    });
  });

  it("describes the documented video, document and sticker", () => {
    expect(describeInboundMessage(messageOf("webhook_video"))).toMatchObject({
      text: "Timelapse of growth",
      media: {
        kind: "video",
        mediaId: "731675419373506",
        mimeType: "video/mp4",
        fileName: "video-19373506.mp4",
      },
    });
    expect(describeInboundMessage(messageOf("webhook_document"))).toMatchObject({
      text: "my receipt",
      media: {
        kind: "document",
        mediaId: "622684793477189",
        mimeType: "application/pdf",
        fileName: "receipt.pdf",
      },
    });
    expect(describeInboundMessage(messageOf("webhook_sticker"))).toEqual({
      text: "Sticker",
      media: {
        kind: "sticker",
        mediaId: "1908647269898587",
        mimeType: "image/webp",
        fileName: "sticker-69898587.webp",
      },
      kind: "sticker",
    });
  });

  it("gives a label when there is no caption, and says so when Meta sent no media id", () => {
    expect(describeInboundMessage(msg("video", { video: { id: "7", mime_type: "video/3gpp" } })).text).toBe(
      "Video",
    );
    expect(describeInboundMessage(msg("document", { document: { id: "8" } })).text).toBe("Document");
    expect(describeInboundMessage(msg("image", { image: { caption: "x" } }))).toEqual({
      text: "x\n[i](WhatsApp sent no file for it)[/i]",
      kind: "image",
    });
    expect(describeInboundMessage(msg("image", { image: "garbage" })).text).toBe(
      "Image\n[i](WhatsApp sent no file for it)[/i]",
    );
  });

  it("falls back to application/octet-stream and .bin for a missing or unknown MIME type", () => {
    expect(describeInboundMessage(msg("image", { image: { id: "wamedia-ID.42!" } })).media).toEqual({
      kind: "image",
      mediaId: "wamedia-ID.42!",
      mimeType: "application/octet-stream",
      fileName: "image-ediaID42.bin",
    });
    expect(describeInboundMessage(msg("image", { image: { id: "%%%" } })).media?.fileName).toBe(
      "image-file.bin",
    );
  });

  describe("document file names (Bitrix24 keeps 50 characters)", () => {
    const nameOf = (document: Json) => describeInboundMessage(msg("document", { document })).media?.fileName;

    it("cuts a long base name but keeps the extension", () => {
      const name = nameOf({
        id: "1",
        mime_type: "application/pdf",
        filename: "A very long quarterly financial report for the board of directors 2025.pdf",
      });
      expect(name).toBe("A very long quarterly financial report for the.pdf");
      expect(name).toHaveLength(50);
    });

    it("counts characters, not UTF-16 units", () => {
      const name = nameOf({ id: "1", mime_type: "text/plain", filename: `${"é😀".repeat(30)}.txt` });
      expect([...(name ?? "")]).toHaveLength(50);
      expect(name?.endsWith(".txt")).toBe(true);
    });

    it("adds an extension from the MIME type when the name has none", () => {
      expect(nameOf({ id: "1", mime_type: "application/pdf", filename: "contract" })).toBe("contract.pdf");
      expect(nameOf({ id: "1", mime_type: "application/x-unknown", filename: "contract" })).toBe("contract");
      expect(nameOf({ id: "1", mime_type: "application/pdf", filename: ".hidden" })).toBe(".hidden.pdf");
      expect(nameOf({ id: "1", mime_type: "application/pdf", filename: "notes.not an ext" })).toBe(
        "notes.not an ext.pdf",
      );
    });

    it("keeps path separators and control characters out of the name", () => {
      expect(nameOf({ id: "1", mime_type: "application/pdf", filename: "../etc/pass\u0000wd" })).toBe(
        ".._etc_pass_wd.pdf",
      );
    });

    it("generates a name when the document has none", () => {
      expect(nameOf({ id: "622684793477189", mime_type: "application/pdf" })).toBe("document-93477189.pdf");
      expect(nameOf({ id: "622684793477189", mime_type: "application/pdf", filename: "  " })).toBe(
        "document-93477189.pdf",
      );
    });
  });

  it("maps MIME types to extensions", () => {
    expect(extensionForMime("image/jpeg")).toBe("jpg");
    expect(extensionForMime("audio/ogg; codecs=opus")).toBe("ogg");
    expect(extensionForMime("video/mp4")).toBe("mp4");
    expect(extensionForMime("image/webp")).toBe("webp");
    expect(extensionForMime("IMAGE/PNG")).toBe("png");
    expect(extensionForMime("application/vnd.openxmlformats-officedocument.wordprocessingml.document")).toBe(
      "docx",
    );
    expect(extensionForMime("application/x-whatever")).toBe("bin");
    expect(extensionForMime("")).toBe("bin");
  });
});

describe("describeInboundMessage: buttons and interactive replies", () => {
  it("shows the template quick-reply button the customer pressed", () => {
    expect(describeInboundMessage(messageOf("webhook_button_template_quick_reply"))).toEqual({
      text: "Pressed button: [b]Unsubscribe[/b]",
      replyToWamid: "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
      kind: "button",
    });
    const withPayload = msg("button", { button: { text: "Stop promotions", payload: "STOP_PROMO" } });
    expect(describeInboundMessage(withPayload).text).toBe(
      "Pressed button: [b]Stop promotions[/b]\n[i]Button payload: STOP_PROMO[/i]",
    );
    expect(describeInboundMessage(msg("button", { button: { payload: "P" } })).text).toBe(
      "Pressed button: [b]P[/b]",
    );
    expect(describeInboundMessage(msg("button")).text).toBe("Pressed button: [b](no label)[/b]");
  });

  it("shows a reply button with its id", () => {
    expect(describeInboundMessage(messageOf("webhook_interactive_button_reply"))).toEqual({
      text: "Pressed button: [b]Cancel[/b]\n[i]Button id: cancel-button[/i]",
      replyToWamid: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA",
      kind: "interactive",
    });
    const sameId = msg("interactive", {
      interactive: { type: "button_reply", button_reply: { id: "Yes", title: "Yes" } },
    });
    expect(describeInboundMessage(sameId).text).toBe("Pressed button: [b]Yes[/b]");
    const empty = msg("interactive", { interactive: { type: "button_reply" } });
    expect(describeInboundMessage(empty).text).toBe("Pressed button: [b](no title)[/b]");
  });

  it("shows a list choice with its description and row id", () => {
    expect(describeInboundMessage(messageOf("webhook_interactive_list_reply"))).toEqual({
      text: "Selected from list: [b]Priority Mail Express[/b]\nNext Day to 2 Days\n[i]Row id: priority_express[/i]",
      replyToWamid: "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
      kind: "interactive",
    });
    const noDescription = msg("interactive", {
      interactive: { type: "list_reply", list_reply: { id: "std", title: "Standard" } },
    });
    expect(describeInboundMessage(noDescription).text).toBe(
      "Selected from list: [b]Standard[/b]\n[i]Row id: std[/i]",
    );
  });

  describe("flow replies (nfm_reply)", () => {
    const flow = (nfm_reply: Json) =>
      describeInboundMessage(msg("interactive", { interactive: { type: "nfm_reply", nfm_reply } }));

    it("turns the documented response_json into field lines, without the flow token", () => {
      const fragment = fixtureJson<any>("meta/webhook_fragment_interactive_nfm_reply.json").messages[0];
      expect(describeInboundMessage(fragment)).toEqual({
        text: "[b]Form submitted[/b]\noptional_param1: <value1>\noptional_param2: <value2>",
        replyToWamid: "gBGGEiRVVgBPAgm7FUgc73noXjo",
        kind: "interactive",
      });
    });

    it("flattens nested answers", () => {
      const response = {
        flow_token: "t",
        screen_0: { name: "Ann", tags: ["a", "b"] },
        items: [{ a: 1 }],
        count: 3,
        agreed: true,
      };
      expect(flow({ name: "flow", body: "Sent", response_json: JSON.stringify(response) }).text).toBe(
        '[b]Form submitted[/b]\nscreen_0.name: Ann\nscreen_0.tags: a, b\nitems: [\u200B{"a":1}]\ncount: 3\nagreed: true',
      );
      expect(flow({ name: "flow", response_json: { city: "Lisbon" } }).text).toBe(
        "[b]Form submitted[/b]\ncity: Lisbon",
      );
    });

    it("shows the raw string when response_json is not JSON", () => {
      expect(flow({ name: "flow", body: "Sent", response_json: "{oops" }).text).toBe(
        "[b]Form submitted[/b]\n{oops",
      );
    });

    it("falls back to the body when there are no fields", () => {
      expect(flow({ name: "flow", body: "Sent", response_json: '{"flow_token":"t"}' }).text).toBe(
        "[b]Form submitted[/b]\nSent",
      );
      expect(flow({ name: "flow", body: "Sent" }).text).toBe("[b]Form submitted[/b]\nSent");
      expect(flow({ name: "flow" }).text).toBe("[b]Form submitted[/b]");
      // The customer's brackets are shown, never read as BBCode (a zero-width space follows each `[`).
      expect(flow({ name: "flow", response_json: "[1,2]" }).text).toBe("[b]Form submitted[/b]\n[\u200B1,2]");
    });

    it("names address messages", () => {
      const values = { values: { name: "Ann Lee", city: "Pune" } };
      expect(flow({ name: "address_message", response_json: JSON.stringify(values) }).text).toBe(
        "[b]Address submitted[/b]\nvalues.name: Ann Lee\nvalues.city: Pune",
      );
    });
  });

  it("reports the customer's answer to a call permission request", () => {
    const reply = (call_permission_reply: Json) =>
      describeInboundMessage(
        msg("interactive", { interactive: { type: "call_permission_reply", call_permission_reply } }),
      ).text;
    expect(reply({ response: "accept", is_permanent: true })).toBe(
      "The customer allowed WhatsApp calls from this number (permanently)",
    );
    expect(reply({ response: "accept", is_permanent: false, expiration_timestamp: 1750000000 })).toBe(
      "The customer allowed WhatsApp calls from this number until 2025-06-15 15:06 UTC",
    );
    expect(reply({ response: "accept", expiration_timestamp: 1e20 })).toBe(
      "The customer allowed WhatsApp calls from this number until 100000000000000000000",
    );
    expect(reply({ response: "accept" })).toBe("The customer allowed WhatsApp calls from this number");
    expect(reply({ response: "reject" })).toBe("The customer declined WhatsApp calls from this number");
  });

  it("names interactive replies it does not know", () => {
    const product = msg("interactive", { interactive: { type: "product" } });
    expect(describeInboundMessage(product)).toEqual({
      text: "Unsupported interactive reply: product",
      kind: "interactive",
    });
    expect(describeInboundMessage(msg("interactive")).text).toBe("Unsupported interactive reply: unknown");
  });
});

describe("describeInboundMessage: customer text cannot imitate the bridge", () => {
  const text = (body: string) => describeInboundMessage({ type: "text", text: { body } }).text;

  it("breaks every BBCode tag the customer typed, and looks the same", () => {
    const forged =
      "[b]WhatsApp:[/b] [url=https://evil.example]Reset your password[/url] [USER=1]admin[/USER]";
    const shown = text(forged);
    expect(shown).not.toMatch(/\[(b|\/b|url|\/url|USER|\/USER)[\]=]/i);
    expect(shown.replaceAll("\u200B", "")).toBe(forged);
  });

  it("breaks #BR# line breaks and >> quotes too", () => {
    expect(text("a#BR#b\n>>quoted")).toBe("a#\u200BBR#b\n>\u200B>quoted");
  });

  it("escapes captions, button labels, list titles and contact names alike", () => {
    const shown = [
      describeInboundMessage({
        type: "image",
        image: { id: "1", mime_type: "image/jpeg", caption: "[i]x[/i]" },
      }),
      describeInboundMessage({ type: "button", button: { text: "[b]Yes[/b]", payload: "p" } }),
      describeInboundMessage({
        type: "interactive",
        interactive: { type: "list_reply", list_reply: { id: "r", title: "[b]Row[/b]" } },
      }),
      describeInboundMessage({ type: "contacts", contacts: [{ name: { formatted_name: "[b]Eve[/b]" } }] }),
    ].map((c) => c.text);
    const inert = (tag: string, inner: string) => `[\u200B${tag}]${inner}[\u200B/${tag}]`;
    expect(shown[0]).toContain(inert("i", "x"));
    expect(shown[1]).toContain(inert("b", "Yes"));
    expect(shown[2]).toContain(inert("b", "Row"));
    expect(shown[3]).toContain(inert("b", "Eve"));
  });

  it("keeps the bridge's own formatting", () => {
    expect(describeInboundMessage({ type: "button", button: { text: "Yes" } }).text).toBe(
      "Pressed button: [b]Yes[/b]",
    );
  });
});

describe("describeInboundMessage: reactions, edits, deletions", () => {
  it("shows the emoji and the message it reacts to", () => {
    expect(describeInboundMessage(messageOf("webhook_reaction"))).toEqual({
      text: "Reacted 👍 [i](to message wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=)[/i]",
      replyToWamid: "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
      kind: "reaction",
    });
  });

  it("says when a reaction was removed (Meta omits the emoji)", () => {
    const removed = msg("reaction", { reaction: { message_id: "wamid.X" } });
    expect(describeInboundMessage(removed)).toEqual({
      text: "Removed their reaction [i](to message wamid.X)[/i]",
      replyToWamid: "wamid.X",
      kind: "reaction",
    });
    expect(describeInboundMessage(msg("reaction")).text).toBe("Removed their reaction");
    expect(describeInboundMessage(msg("reaction", { reaction: { emoji: "❤️" } }))).toEqual({
      text: "Reacted ❤️",
      kind: "reaction",
    });
  });

  it("shows the new version of an edited message and points at the original", () => {
    expect(describeInboundMessage(messageOf("webhook_edit"))).toEqual({
      text: "[i]The customer edited a message (wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=). New version:[/i]\nUpdated image caption",
      replyToWamid: "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
      kind: "edit",
    });
    const text = msg("edit", {
      edit: { original_message_id: "wamid.O", message: { type: "text", text: { body: "fixed typo" } } },
    });
    expect(describeInboundMessage(text).text).toBe(
      "[i]The customer edited a message (wamid.O). New version:[/i]\nfixed typo",
    );
    expect(describeInboundMessage(msg("edit", { edit: { message: {} } }))).toEqual({
      text: "[i]The customer edited a message. New version:[/i]\nUnsupported message type: unknown",
      kind: "edit",
    });
    expect(describeInboundMessage(msg("edit")).text).toBe(
      "[i]The customer edited a message. New version:[/i]\n[i](no new content)[/i]",
    );
  });

  it("says when the customer deleted a message", () => {
    expect(describeInboundMessage(messageOf("webhook_revoke"))).toEqual({
      text: "[i]The customer deleted a message (wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=)[/i]",
      replyToWamid: "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
      kind: "revoke",
    });
    expect(describeInboundMessage(msg("revoke"))).toEqual({
      text: "[i]The customer deleted a message[/i]",
      kind: "revoke",
    });
  });
});

describe("describeInboundMessage: location, contacts, orders", () => {
  it("shows name, address, coordinates and a map link", () => {
    expect(describeInboundMessage(messageOf("webhook_location"))).toEqual({
      text: [
        "[b]Location:[/b] Meta Headquarters",
        "1 Hacker Way, Menlo Park, CA 94025",
        "Coordinates: 37.483307, -122.148981",
        "Map: https://maps.google.com/?q=37.483307,-122.148981",
        "https://www.facebook.com",
      ].join("\n"),
      kind: "location",
    });
  });

  it("accepts coordinates as strings and skips what is missing", () => {
    const pin = msg("location", { location: { latitude: "1.5", longitude: "-2" } });
    expect(describeInboundMessage(pin).text).toBe(
      "[b]Location[/b]\nCoordinates: 1.5, -2\nMap: https://maps.google.com/?q=1.5,-2",
    );
    const half = msg("location", { location: { latitude: "", longitude: 3, address: "Somewhere" } });
    expect(describeInboundMessage(half).text).toBe("[b]Location[/b]\nSomewhere");
    expect(describeInboundMessage(msg("location")).text).toBe("[b]Location[/b]");
  });

  it("renders a readable card per shared contact", () => {
    expect(describeInboundMessage(messageOf("webhook_contacts"))).toEqual({
      text: [
        "[b]Contact:[/b] Barbara J. Johnson",
        "Phone: +1 (940) 555-1234 (home) (on WhatsApp)",
        "Phone: +1 (650) 555-1234 (work)",
        "Email: bjohnson@example.com (work)",
        "Organization: Example, Inc., Sales, Manager",
        "Website: https://www.example.com (work)",
        "Address: 1 Hacker Way, Menlo Park, CA, 94025, United States (work)",
        "Birthday: 1999-01-23",
      ].join("\n"),
      kind: "contacts",
    });
  });

  it("builds names from parts, separates several contacts and skips empty entries", () => {
    const contacts = [
      {
        name: { first_name: "Ann", last_name: "Lee" },
        phones: [{ wa_id: "4915112345678" }, { type: "HOME" }],
        emails: [{ type: "WORK" }],
        urls: [{}],
        addresses: [{ type: "HOME" }],
        org: {},
      },
      { phones: [{ phone: "+44 20 7946 0000" }] },
    ];
    expect(describeInboundMessage(msg("contacts", { contacts })).text).toBe(
      "[b]Contact:[/b] Ann Lee\nPhone: +4915112345678 (on WhatsApp)\n\n[b]Contact:[/b] (no name)\nPhone: +44 20 7946 0000",
    );
    expect(describeInboundMessage(msg("contacts", { contacts: "nope" })).text).toBe(
      "[b]Contact[/b]\n[i](no details shared)[/i]",
    );
  });

  it("lists order items with a total per currency", () => {
    expect(describeInboundMessage(messageOf("webhook_order"))).toEqual({
      text: [
        "[b]Order[/b] (catalog 194836987003835)",
        "Please deliver after 5pm",
        "• di9ozbzfi4 × 2 @ 30.50 USD",
        "• nlk0pwpf4x × 1 @ 12 USD",
        "[b]Total:[/b] 73 USD",
      ].join("\n"),
      kind: "order",
    });
  });

  it("adds up several currencies, string amounts and incomplete items without floating-point noise", () => {
    const order = {
      catalog_id: 42,
      product_items: [
        { product_retailer_id: "a", quantity: "3", item_price: "0.1", currency: "EUR" },
        { product_retailer_id: "b", quantity: 1, item_price: 5, currency: "USD" },
        { quantity: 1, item_price: 2 },
        { product_retailer_id: "c", quantity: 2 },
        { product_retailer_id: "d", item_price: 9, currency: "USD" },
      ],
    };
    expect(describeInboundMessage(msg("order", { order })).text).toBe(
      [
        "[b]Order[/b] (catalog 42)",
        "• a × 3 @ 0.10 EUR",
        "• b × 1 @ 5 USD",
        "• (unknown product) × 1 @ 2",
        "• c × 2",
        "• d × ? @ 9 USD",
        "[b]Total:[/b] 0.30 EUR",
        "[b]Total:[/b] 5 USD",
        "[b]Total:[/b] 2",
      ].join("\n"),
    );
    expect(describeInboundMessage(msg("order")).text).toBe("[b]Order[/b]");
  });
});

describe("describeInboundMessage: system, unsupported and unknown messages", () => {
  it("tells the operator the customer changed their number", () => {
    expect(describeInboundMessage(messageOf("webhook_system"))).toEqual({
      text: "[i]The customer changed their number to +16505553333[/i]",
      kind: "system",
    });
    const legacy = msg("system", { system: { type: "customer_changed_number", new_wa_id: "4915112345678" } });
    expect(describeInboundMessage(legacy).text).toBe(
      "[i]The customer changed their number to +4915112345678[/i]",
    );
    const bodyOnly = msg("system", {
      system: { type: "user_changed_number", body: "User A changed from 1 to 2" },
    });
    expect(describeInboundMessage(bodyOnly).text).toBe("[i]User A changed from 1 to 2[/i]");
    const bare = msg("system", { system: { type: "user_changed_number" } });
    expect(describeInboundMessage(bare).text).toBe("[i]The customer changed their number[/i]");
  });

  it("covers the other system message kinds", () => {
    const userId = msg("system", { system: { type: "user_changed_user_id", user_id: "US.2" } });
    expect(describeInboundMessage(userId).text).toBe("[i]The customer's WhatsApp user id changed[/i]");
    expect(describeInboundMessage(msg("system", { system: { type: "other", body: "Hello" } })).text).toBe(
      "[i]Hello[/i]",
    );
    expect(describeInboundMessage(msg("system", { system: { type: "other" } })).text).toBe(
      "[i]System message (other)[/i]",
    );
    expect(describeInboundMessage(msg("system")).text).toBe("[i]System message (unknown)[/i]");
  });

  it("shows Meta's code, title and details for an unsupported message", () => {
    expect(describeInboundMessage(messageOf("webhook_unsupported"))).toEqual({
      text: [
        "Unsupported message (code 131051: Message type unknown)",
        "[i]Message type is currently not supported.[/i]",
        "[i]Message type: poll_creation[/i]",
      ].join("\n"),
      kind: "unsupported",
    });
  });

  it("treats any message carrying errors[] as unsupported and drops its file", () => {
    const tooBig = msg("image", { image: { id: "1", mime_type: "image/jpeg" }, errors: [{ code: 131052 }] });
    expect(describeInboundMessage(tooBig)).toEqual({
      text: "Unsupported message (code 131052: Media download error)\n[i]Message type: image[/i]",
      kind: "unsupported",
    });
    const stringCode = msg("unsupported", {
      errors: [{ code: "131060", message: "This message is currently unavailable" }],
    });
    expect(describeInboundMessage(stringCode).text).toBe(
      "Unsupported message (code 131060: This message is currently unavailable)",
    );
    expect(describeInboundMessage(msg("unsupported", { errors: [{ code: 999999 }] })).text).toBe(
      "Unsupported message (code 999999: Unknown WhatsApp error)",
    );
    expect(describeInboundMessage(msg("unsupported", { errors: [{}, "junk"] })).text).toBe(
      "Unsupported message",
    );
    expect(describeInboundMessage(msg("unsupported", { errors: [{ title: "Odd" }] })).text).toBe(
      "Unsupported message (Odd)",
    );
  });

  it("describes an unsupported message without errors", () => {
    expect(describeInboundMessage(msg("unsupported", { unsupported: { type: "gif" } }))).toEqual({
      text: "Unsupported message\n[i]Message type: gif[/i]",
      kind: "unsupported",
    });
    expect(describeInboundMessage(msg("unsupported")).text).toBe("Unsupported message");
  });

  it("notes the welcome request of a first-time chat", () => {
    expect(describeInboundMessage(msg("request_welcome")).text).toBe(
      "[i]The customer opened the chat for the first time[/i]",
    );
  });

  it("turns unknown types into an unsupported note instead of throwing", () => {
    expect(describeInboundMessage(msg("poll"))).toEqual({
      text: "Unsupported message type: poll",
      kind: "poll",
    });
    expect(describeInboundMessage({})).toEqual({
      text: "Unsupported message type: unknown",
      kind: "unknown",
    });
  });
});

describe("describeInboundMessage: click-to-WhatsApp ads", () => {
  it("appends the ad and links the chat to it", () => {
    expect(describeInboundMessage(messageOf("webhook_referral"))).toEqual({
      text: [
        "Is the blue one still available?",
        "[b]From an ad:[/b] Chat with us",
        "Summer sale: 20% off every bike this week",
        "Source: ad https://fb.me/3cr4Wqqkv",
        "Ad image: https://scontent.xx.fbcdn.net/v/t45.1600-4/ad_image.png",
        "Ad welcome message: Hi there! Let us know how we can help!",
      ].join("\n"),
      chatUrl: "https://fb.me/3cr4Wqqkv",
      kind: "text",
    });
  });

  it("works on any message type and with a sparse referral", () => {
    const image = {
      ...messageOf("webhook_image"),
      referral: { source_type: "post", video_url: "https://v.example/1.mp4" },
    };
    const described = describeInboundMessage(image);
    expect(described.text).toBe(
      "Taj Mahal\n[b]From an ad[/b]\nSource: post\nAd media: https://v.example/1.mp4",
    );
    expect(described.media?.mediaId).toBe("1003383421387256");
    expect(described.chatUrl).toBeUndefined();
  });
});
