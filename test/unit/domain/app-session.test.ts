import { describe, expect, it } from "vitest";
import {
  APP_SESSION_SECONDS,
  appSessionKey,
  issueAppSession,
  readAppSession,
} from "#shared/domain/app-session.ts";

const key = appSessionKey("test-encryption-key-material-0123456789");
const NOW = 1_760_000_000;

describe("the app page's session", () => {
  it("stands for its portal until it expires", () => {
    const token = issueAppSession(key, "numbers", "member-a", NOW);
    expect(readAppSession(key, "numbers", token, NOW + APP_SESSION_SECONDS - 1)).toEqual({
      memberId: "member-a",
      scope: "numbers",
      expiresAt: NOW + APP_SESSION_SECONDS,
    });
    expect(readAppSession(key, "numbers", token, NOW + APP_SESSION_SECONDS)).toBeUndefined();
  });

  it("is refused when its portal or expiry is changed, or another deployment's key signed it", () => {
    const token = issueAppSession(key, "numbers", "member-a", NOW);
    const [payload, signature] = token.split(".") as [string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    const altered = (c: object) => `${Buffer.from(JSON.stringify(c)).toString("base64url")}.${signature}`;
    expect(readAppSession(key, "numbers", altered({ ...claims, m: "member-b" }), NOW)).toBeUndefined();
    expect(readAppSession(key, "numbers", altered({ ...claims, e: claims.e + 3600 }), NOW)).toBeUndefined();
    const other = appSessionKey("another-deployment-key-0123456789abcdef");
    expect(readAppSession(other, "numbers", token, NOW)).toBeUndefined();
    for (const junk of ["", ".", "abc", `${token}.x`, `${payload}.`]) {
      expect(readAppSession(key, "numbers", junk, NOW)).toBeUndefined();
    }
  });

  it("is read only by the page it was issued for: a picker session is not the numbers page's", () => {
    const picker = issueAppSession(key, "picker", "member-a", NOW);
    expect(readAppSession(key, "picker", picker, NOW)?.memberId).toBe("member-a");
    expect(readAppSession(key, "numbers", picker, NOW)).toBeUndefined();
    const [payload, signature] = picker.split(".") as [string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    const rescoped = `${Buffer.from(JSON.stringify({ ...claims, s: "numbers" })).toString("base64url")}.${signature}`;
    expect(readAppSession(key, "numbers", rescoped, NOW)).toBeUndefined();
  });
});
