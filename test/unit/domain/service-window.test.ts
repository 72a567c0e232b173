import { describe, expect, it } from "vitest";
import {
  isServiceWindowOpen,
  SERVICE_WINDOW_MS,
  WINDOW_REFRESH_MS,
  windowClosedNote,
  windowNeedsWrite,
} from "#shared/domain/service-window.ts";

const last = new Date("2026-03-10T12:00:00.000Z");
const at = (offsetMs: number) => new Date(last.getTime() + offsetMs);

describe("isServiceWindowOpen", () => {
  it("is 24 hours", () => {
    expect(SERVICE_WINDOW_MS).toBe(86_400_000);
  });

  it.each([
    ["right after the customer's message", 0, true],
    ["one hour later", 3_600_000, true],
    ["one millisecond before 24 hours", SERVICE_WINDOW_MS - 1, true],
    ["at exactly 24 hours: expired", SERVICE_WINDOW_MS, false],
    ["one millisecond after 24 hours", SERVICE_WINDOW_MS + 1, false],
    ["days later", 3 * SERVICE_WINDOW_MS, false],
    ["last message slightly in the future (clock skew)", -5_000, true],
  ])("%s → %s", (_case, offset, open) => {
    expect(isServiceWindowOpen(last, at(offset))).toBe(open);
  });

  it("is closed when the customer never wrote", () => {
    expect(isServiceWindowOpen(undefined, last)).toBe(false);
  });

  it.each([
    ["invalid last message date", new Date(Number.NaN), last],
    ["invalid now", last, new Date(Number.NaN)],
  ])("is closed for an %s", (_case, lastInboundAt, now) => {
    expect(isServiceWindowOpen(lastInboundAt, now)).toBe(false);
  });
});

describe("windowClosedNote", () => {
  it("tells the operator the window is closed and how to send a template", () => {
    const note = windowClosedNote();
    expect(note).toMatch(/24-hour/);
    expect(note).toMatch(/closed/);
    expect(note).toContain("template-NAME+LANG");
    expect(note).toContain("template-hello_world+en_US");
  });
});

describe("windowNeedsWrite", () => {
  const written = last.getTime();
  it.each([
    ["nothing written yet", undefined, written, true],
    ["a message a minute later", written, written + 60_000, false],
    ["a message just under the refresh interval later", written, written + WINDOW_REFRESH_MS - 1, false],
    ["a message the refresh interval later", written, written + WINDOW_REFRESH_MS, true],
    ["an older message arriving late", written, written - 60_000, false],
    ["an unreadable time", written, Number.NaN, true],
  ])("%s: %s", (_, writtenAt, contactAt, expected) => {
    expect(windowNeedsWrite(writtenAt, contactAt)).toBe(expected);
  });

  it("lets the stored window close early by at most the refresh interval, never late", () => {
    // Messages every minute for an hour: the stored start is never more than the interval behind.
    let stored = written;
    for (let t = written; t <= written + 3_600_000; t += 60_000) {
      if (windowNeedsWrite(stored, t)) stored = t;
      expect(t - stored).toBeLessThan(WINDOW_REFRESH_MS);
      expect(stored).toBeLessThanOrEqual(t);
    }
  });
});
