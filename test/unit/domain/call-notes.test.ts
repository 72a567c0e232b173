import { describe, expect, it } from "vitest";
import { describeCallEvent } from "#shared/domain/call-notes.ts";
import { fixtureJson } from "../../fixtures.ts";

const changeValue = (name: string): Record<string, any> =>
  fixtureJson<any>(`meta/${name}.json`).entry[0].changes[0].value;
const userCall = () => changeValue("calls_connect_user_initiated").calls[0];
const businessCall = () => changeValue("calls_connect_business_initiated").calls[0];

/** `terminate` as the Calling reference describes it (meta-whatsapp.md §6.3), built on the documented connect. */
const terminate = (call: Record<string, any>, extra: Record<string, unknown>): Record<string, unknown> => {
  const { session: _session, deeplink_payload: _d, cta_payload: _c, ...rest } = call;
  return { ...rest, event: "terminate", timestamp: "1671644949", ...extra };
};

const MEDIA_TIMEOUT = {
  code: 138021,
  message: "Media receive timeout",
  href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
  error_data: { details: "No media was received from the business" },
};

describe("describeCallEvent: calls[]", () => {
  it("announces an incoming call with the caller's number", () => {
    expect(describeCallEvent(userCall(), "call")).toBe("Incoming WhatsApp call from +16315553602");
    expect(describeCallEvent({ ...userCall(), from: "<CALLER>" }, "call")).toBe("Incoming WhatsApp call");
  });

  it("notes a business-initiated call once it connects", () => {
    expect(describeCallEvent(businessCall(), "call")).toBe("Outgoing WhatsApp call connected");
  });

  it("reports how long an answered call lasted", () => {
    const ended = terminate(userCall(), {
      status: "COMPLETED",
      start_time: "1671644824",
      end_time: "1671644949",
      duration: 125,
    });
    expect(describeCallEvent(ended, "call")).toBe("WhatsApp call ended, 2 min 5 s");
    const { duration: _d, ...fromTimes } = ended;
    expect(describeCallEvent(fromTimes, "call")).toBe("WhatsApp call ended, 2 min 5 s");
    expect(describeCallEvent({ ...ended, status: "Completed", duration: "45" }, "call")).toBe(
      "WhatsApp call ended, 45 s",
    );
    expect(describeCallEvent({ ...ended, duration: 120 }, "call")).toBe("WhatsApp call ended, 2 min");
    expect(describeCallEvent({ ...ended, duration: 3725 }, "call")).toBe(
      "WhatsApp call ended, 1 h 2 min 5 s",
    );
    expect(describeCallEvent({ ...ended, duration: 3600 }, "call")).toBe("WhatsApp call ended, 1 h");
  });

  it("does not call a completed call missed when Meta gives no duration", () => {
    expect(describeCallEvent(terminate(userCall(), { status: "COMPLETED" }), "call")).toBe(
      "WhatsApp call ended",
    );
  });

  it("reports unanswered calls as missed (incoming) or not answered (outgoing)", () => {
    const unanswered = { status: "COMPLETED", duration: 0 };
    expect(describeCallEvent(terminate(userCall(), unanswered), "call")).toBe(
      "Missed WhatsApp call from +16315553602",
    );
    expect(describeCallEvent(terminate(businessCall(), unanswered), "call")).toBe(
      "Outgoing WhatsApp call not answered",
    );
    const backwards = { status: "COMPLETED", start_time: "1671644949", end_time: "1671644824" };
    expect(describeCallEvent(terminate(userCall(), backwards), "call")).toBe(
      "Missed WhatsApp call from +16315553602",
    );
    expect(describeCallEvent(terminate(userCall(), { status: "COMPLETED", duration: 0.4 }), "call")).toBe(
      "Missed WhatsApp call from +16315553602",
    );
  });

  it("gives the reason of a failed call from the change's errors", () => {
    const failed = terminate(userCall(), { status: "FAILED" });
    expect(describeCallEvent(failed, "call", [MEDIA_TIMEOUT])).toBe(
      "Missed WhatsApp call from +16315553602 (138021: Media receive timeout — No media was received from the business)",
    );
    expect(describeCallEvent({ ...failed, from: undefined }, "call")).toBe("Missed WhatsApp call");
    expect(
      describeCallEvent(terminate(businessCall(), { status: "failed" }), "call", [{ code: 138019 }]),
    ).toBe("Outgoing WhatsApp call failed (138019)");
    expect(describeCallEvent({ ...failed, duration: 65 }, "call", [MEDIA_TIMEOUT, {}, "junk"])).toBe(
      "WhatsApp call dropped after 1 min 5 s (138021: Media receive timeout — No media was received from the business)",
    );
  });

  it("ignores other call events", () => {
    expect(describeCallEvent({ ...userCall(), event: "ringing" }, "call")).toBeUndefined();
    expect(describeCallEvent({}, "call")).toBeUndefined();
  });
});

describe("describeCallEvent: call statuses[]", () => {
  const ringing = () => changeValue("calls_status_ringing_normalized").statuses[0];

  it("notes each step of a business-initiated call", () => {
    expect(describeCallEvent(ringing(), "callstatus")).toBe("Outgoing WhatsApp call: ringing");
    expect(describeCallEvent({ ...ringing(), status: "accepted" }, "callstatus")).toBe(
      "Outgoing WhatsApp call: the customer answered",
    );
    expect(describeCallEvent({ ...ringing(), status: "REJECTED" }, "callstatus")).toBe(
      "Outgoing WhatsApp call: the customer declined",
    );
  });

  it("reports a failed call with the errors on the status itself", () => {
    const failed = {
      ...ringing(),
      status: "FAILED",
      errors: [{ code: 138006, title: "No approved call permission" }],
    };
    expect(describeCallEvent(failed, "callstatus")).toBe(
      "Outgoing WhatsApp call failed (138006: No approved call permission)",
    );
  });

  it("ignores statuses it does not know", () => {
    expect(describeCallEvent({ ...ringing(), status: "WHATEVER" }, "callstatus")).toBeUndefined();
    expect(describeCallEvent({}, "callstatus")).toBeUndefined();
  });
});
