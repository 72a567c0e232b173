import { describe, expect, it } from "vitest";
import { explainMetaError, failedStatusNote, META_ERROR_CODES_URL } from "#shared/domain/meta-errors.ts";
import { fixtureJson } from "../../fixtures.ts";

const REQUIRED = [
  0, 1, 2, 4, 10, 100, 190, 368, 130429, 131000, 131005, 131008, 131009, 131016, 131021, 131026, 131031,
  131042, 131045, 131047, 131048, 131049, 131050, 131051, 131052, 131053, 131056, 131057, 132000, 132001,
  132005, 132007, 132012, 132015, 132016, 133010, 135000,
];
// Only throttling and outages are worth an automatic retry; everything else needs a person.
const TRANSIENT = new Set([1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057, 133004]);

describe("explainMetaError", () => {
  it.each(REQUIRED)("explains %i in its own words, not the generic fallback", (code) => {
    const { title, advice, transient } = explainMetaError(code);
    expect(title).not.toBe("Unknown WhatsApp error");
    expect(advice.length).toBeGreaterThan(20);
    expect(advice).not.toContain(META_ERROR_CODES_URL);
    expect(transient).toBe(TRANSIENT.has(code));
  });

  it("marks the throttling and outage codes as transient", () => {
    for (const code of TRANSIENT) expect(explainMetaError(code).transient).toBe(true);
  });

  it("tells the operator to send a template when the 24-hour window is closed", () => {
    const { title, advice, transient } = explainMetaError(131047);
    expect(title).toBe("Re-engagement message");
    expect(advice).toContain("24-hour window is closed");
    expect(advice).toContain("template-NAME+LANG");
    expect(transient).toBe(false);
  });

  it("keeps its own title for known codes and adds Meta's details", () => {
    expect(explainMetaError(131026, "Message Undeliverable", "Message Undeliverable.")).toMatchObject({
      title: "Message undeliverable",
      advice: expect.stringMatching(/update WhatsApp.*\(WhatsApp: Message Undeliverable\.\)$/),
    });
    expect(explainMetaError(130429, "Rate limit hit", "Rate limit hit").advice).not.toContain("WhatsApp: ");
    expect(explainMetaError(131000, undefined, "   ").advice).not.toContain("WhatsApp: ");
  });

  it("treats 200–299 as a permission problem", () => {
    expect(explainMetaError(200).title).toBe("API permission");
    expect(explainMetaError(299).title).toBe("API permission");
    expect(explainMetaError(300).title).toBe("Unknown WhatsApp error");
  });

  it("falls back to Meta's own title and the error-codes page for unknown codes", () => {
    expect(explainMetaError(131999, "Brand new error", "Something odd happened")).toEqual({
      title: "Brand new error",
      advice: `Something odd happened. See ${META_ERROR_CODES_URL}`,
      transient: false,
    });
    expect(explainMetaError(131999)).toEqual({
      title: "Unknown WhatsApp error",
      advice: "See https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes",
      transient: false,
    });
    expect(explainMetaError(131999, "  ").title).toBe("Unknown WhatsApp error");
  });
});

describe("failedStatusNote", () => {
  /** The documented status webhook turned `failed`, with errors[] shaped as the status reference shows. */
  const failed = (errors: unknown): Record<string, unknown> => ({
    ...fixtureJson<any>("meta/webhook_status_v24_no_conversation.json").entry[0].changes[0].value.statuses[0],
    status: "failed",
    errors,
  });

  it("names the code, the title and what to do", () => {
    const note = failedStatusNote(
      failed([
        {
          code: 131047,
          title: "Re-engagement message",
          message: "Re-engagement message",
          error_data: {
            details:
              "Message failed to send because more than 24 hours have passed since the customer last replied.",
          },
          href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        },
      ]),
    );
    expect(note).toMatch(
      /^Message not delivered \(131047: Re-engagement message\): The customer has not written/,
    );
    expect(note).toContain("template-NAME+LANG");
    expect(note).toContain("(WhatsApp: Message failed to send because more than 24 hours");
  });

  it("writes one line per error and accepts codes sent as strings", () => {
    const note = failedStatusNote(
      failed([
        { code: "131049", title: "This message was not delivered to maintain healthy ecosystem engagement." },
        { code: 555555, message: "Something new", error_data: "not an object" },
        "junk",
      ]),
    );
    expect(note.split("\n")).toEqual([
      expect.stringMatching(/^Message not delivered \(131049: Meta chose not to deliver\): /),
      `Message not delivered (555555: Something new): See ${META_ERROR_CODES_URL}`,
    ]);
  });

  it("still says something when Meta gives no usable code or no reason", () => {
    expect(failedStatusNote(failed([{ title: "Odd", error_data: { details: "Very odd" } }]))).toBe(
      "Message not delivered: Odd: Very odd",
    );
    expect(failedStatusNote(failed([{ code: 1.5 }]))).toBe("Message not delivered: WhatsApp gave no reason.");
    expect(failedStatusNote(failed([]))).toBe("Message not delivered: WhatsApp gave no reason.");
    expect(failedStatusNote(failed(undefined))).toBe("Message not delivered: WhatsApp gave no reason.");
  });
});
