import { describe, expect, it } from "vitest";
import { SecretBox } from "#shared/adapters/secret-box.ts";

const box = new SecretBox("k".repeat(40));

describe("SecretBox", () => {
  it("round-trips and never stores the plaintext", () => {
    const sealed = box.seal("EAAG-secret-token", "APP#1/appSecret");
    expect(sealed).not.toContain("EAAG");
    expect(box.open(sealed, "APP#1/appSecret")).toBe("EAAG-secret-token");
  });

  it("uses a fresh IV each time", () => {
    expect(box.seal("x", "c")).not.toBe(box.seal("x", "c"));
  });

  it("refuses a ciphertext moved to another item or field", () => {
    const sealed = box.seal("s", "APP#1/appSecret");
    expect(() => box.open(sealed, "APP#2/appSecret")).toThrow();
  });

  it("refuses another key and tampered data", () => {
    const sealed = box.seal("s", "c");
    expect(() => new SecretBox("z".repeat(40)).open(sealed, "c")).toThrow();
    const parts = sealed.split(":");
    parts[3] = Buffer.from("tampered").toString("base64");
    expect(() => box.open(parts.join(":"), "c")).toThrow();
  });

  it("refuses short key material", () => {
    expect(() => new SecretBox("short")).toThrow(/32/);
  });
});
