import { describe, expect, it } from "vitest";
import { signWebhookBody, verifyWebhookSignature } from "#shared/domain/webhook-signature.ts";
import { fixtureBytes, fixtureJson } from "../fixtures.ts";

const vector = fixtureJson<{ app_secret: string; header_value: string; raw_body_length: number }>(
  "meta/webhook_signature_vector.json",
);
const body = fixtureBytes("meta/webhook_text.json");

describe("verifyWebhookSignature", () => {
  it("accepts the documented test vector over the exact file bytes", () => {
    expect(body.length).toBe(vector.raw_body_length);
    expect(verifyWebhookSignature(body, vector.header_value, vector.app_secret)).toBe(true);
  });

  it("rejects the same JSON re-serialised (the HMAC covers raw bytes)", () => {
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString("utf8"))));
    expect(verifyWebhookSignature(reserialised, vector.header_value, vector.app_secret)).toBe(false);
  });

  it.each([
    ["missing header", undefined],
    ["no sha256= prefix", vector.header_value.slice("sha256=".length)],
    ["sha1 header", "sha1=0123456789abcdef0123456789abcdef01234567"],
    ["truncated hex", vector.header_value.slice(0, -2)],
    ["not hex", "sha256=zz"],
    ["empty", ""],
    ["trailing bytes after the digest", `${vector.header_value}00`],
    ["trailing text after the digest", `${vector.header_value}garbage`],
    ["two headers joined by a proxy", `${vector.header_value}, ${vector.header_value}`],
    ["a space before the digest", `sha256= ${vector.header_value.slice(7)}`],
    ["a trailing space", `${vector.header_value} `],
    ["upper-case prefix", `SHA256=${vector.header_value.slice(7)}`],
  ])("rejects %s", (_name, header) => {
    expect(verifyWebhookSignature(body, header, vector.app_secret)).toBe(false);
  });

  it("rejects a signature made with another secret", () => {
    expect(verifyWebhookSignature(body, signWebhookBody(body, "another secret"), vector.app_secret)).toBe(
      false,
    );
  });

  it("accepts upper-case hex, which is the same digest", () => {
    const upper = `sha256=${vector.header_value.slice(7).toUpperCase()}`;
    expect(verifyWebhookSignature(body, upper, vector.app_secret)).toBe(true);
  });

  it("signWebhookBody reproduces the vector", () => {
    expect(signWebhookBody(body, vector.app_secret)).toBe(vector.header_value);
  });
});
