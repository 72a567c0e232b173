import { describe, expect, it } from "vitest";
import { toQueueBody } from "#shared/domain/queue-body.ts";

describe("toQueueBody", () => {
  it.each([
    ["emoji", { text: "👍 thanks 🎉" }],
    ["non-characters", { text: "a\uFFFEb\uFFFF" }],
    ["a lone surrogate", { text: "x\uD83Dy" }],
    ["control characters", { text: "bell\u0007 nul\u0000" }],
    ["Cyrillic and CJK (kept as is)", { text: "Привет 你好" }],
  ])("keeps %s within SQS's allowed characters and parses back unchanged", (_name, value) => {
    const body = toQueueBody(value);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the set SQS allows starts with control characters.
    expect(body).not.toMatch(/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/);
    expect(JSON.parse(body)).toEqual(value);
  });

  it("leaves the BMP outside the surrogates unescaped, so bodies stay compact", () => {
    expect(toQueueBody({ t: "Привет" })).toBe('{"t":"Привет"}');
  });
});
