import { describe, expect, it } from "vitest";
import { toOpenLinesUser } from "#shared/domain/bitrix-user.ts";
import { fixtureJson } from "../../fixtures.ts";

const NAME_RULE = /^[\p{L}\p{M}]+(?:[ '-][\p{L}\p{M}]+)*$/u;

describe("toOpenLinesUser", () => {
  it("maps the documented contact to a Bitrix24 user keyed on the phone", () => {
    const value = fixtureJson<any>("meta/webhook_text.json").entry[0].changes[0].value;
    const contact = value.contacts[0];
    expect(
      toOpenLinesUser({
        customerId: value.messages[0].from,
        waId: contact.wa_id,
        profileName: contact.profile.name,
      }),
    ).toEqual({
      id: "wa:16505551234",
      name: "Sheena",
      last_name: "Nelson",
      phone: "+16505551234",
      skip_phone_validate: "Y",
    });
  });

  it("gives the same id on every call, whatever the profile says", () => {
    const a = toOpenLinesUser({ customerId: "16505551234", waId: "16505551234", profileName: "Sheena" });
    const b = toOpenLinesUser({ customerId: "16505551234", profileName: "Sheena N. 🌸", userId: "US.1" });
    const c = toOpenLinesUser({ customerId: "US.1", waId: "+1 (650) 555-1234", userId: "US.1" });
    expect(new Set([a.id, b.id, c.id])).toEqual(new Set(["wa:16505551234"]));
    expect(c.phone).toBe("+16505551234");
  });

  it("falls back to the business-scoped user id when Meta omits the phone", () => {
    expect(
      toOpenLinesUser({
        customerId: "US.13491208655302741918",
        userId: "US.13491208655302741918",
        username: "@sheena",
      }),
    ).toEqual({ id: "wa:user:US.13491208655302741918", name: "sheena", skip_phone_validate: "Y" });
    expect(toOpenLinesUser({ customerId: "US.77", userId: "  ", profileName: "Ann" }).id).toBe(
      "wa:user:US.77",
    );
    expect(toOpenLinesUser({ customerId: "US.77", waId: "", profileName: "Ann" }).id).toBe("wa:user:US.77");
  });

  it("strips emoji, digits and symbols but keeps hyphens and apostrophes inside names", () => {
    expect(toOpenLinesUser({ customerId: "1", profileName: "🌸 Anna-Maria 💖 O’Brien 😊" })).toMatchObject({
      name: "Anna-Maria",
      last_name: "O'Brien",
    });
    expect(toOpenLinesUser({ customerId: "1", profileName: "John2 Smith!!! (VIP) ★" })).toMatchObject({
      name: "John",
      last_name: "Smith VIP",
    });
    expect(toOpenLinesUser({ customerId: "1", profileName: "--Anne--Marie'' 'quoted' - ‐ " })).toMatchObject({
      name: "Anne-Marie",
      last_name: "quoted",
    });
  });

  it("keeps letters of any script, composed, with the marks Indic names need", () => {
    expect(toOpenLinesUser({ customerId: "1", profileName: "Łukasz Żółć" })).toMatchObject({
      name: "Łukasz",
      last_name: "Żółć",
    });
    expect(toOpenLinesUser({ customerId: "1", profileName: "Иван Петров" })).toMatchObject({
      name: "Иван",
      last_name: "Петров",
    });
    const chinese = toOpenLinesUser({ customerId: "1", profileName: "王小明" });
    expect(chinese.name).toBe("王小明");
    expect(chinese).not.toHaveProperty("last_name");
    expect(toOpenLinesUser({ customerId: "1", profileName: "अनिल कुमार" })).toMatchObject({
      name: "अनिल",
      last_name: "कुमार",
    });
    expect(toOpenLinesUser({ customerId: "1", profileName: "Jose\u0301" }).name).toBe("José");
    expect(toOpenLinesUser({ customerId: "1", profileName: "❤\uFE0FAnn\uFE0F \u0301Lee" })).toMatchObject({
      name: "Ann",
      last_name: "Lee",
    });
  });

  it("cuts name and last name to 25 characters without a trailing separator", () => {
    const long = toOpenLinesUser({
      customerId: "1",
      profileName: "Maximiliana Alexandrina Konstantinopolous von Habsburg-Lothringen",
    });
    expect(long).toMatchObject({ name: "Maximiliana", last_name: "Alexandrina Konstantinopo" });
    const atSpace = toOpenLinesUser({ customerId: "1", profileName: `A ${"b".repeat(24)} Ccc` });
    expect(atSpace.last_name).toBe("b".repeat(24));
    const atHyphen = toOpenLinesUser({ customerId: "1", profileName: `${"a".repeat(24)}-Bbbb` });
    expect(atHyphen.name).toBe("a".repeat(24));
    const emojiHeavy = toOpenLinesUser({ customerId: "1", profileName: "😀".repeat(10) + "Ω".repeat(40) });
    expect([...emojiHeavy.name]).toHaveLength(25);
  });

  it("only ever produces names Bitrix24 accepts while letters are available", () => {
    const names = ["Sheena Nelson", "🌸 Anna-Maria 💖 O’Brien", "J.R.R. Tolkien", "Dr. No #1", "__x__ y2k"];
    for (const profileName of names) {
      const user = toOpenLinesUser({ customerId: "1", profileName });
      for (const part of [user.name, user.last_name ?? "Ok"]) {
        expect(part).toMatch(NAME_RULE);
        expect([...part].length).toBeLessThanOrEqual(25);
      }
    }
  });

  it("falls back to the username, then the phone, then the raw username, then a label", () => {
    expect(toOpenLinesUser({ customerId: "1", profileName: "🙂", username: "@sheena_nelson" })).toMatchObject(
      {
        name: "sheena",
        last_name: "nelson",
      },
    );
    expect(toOpenLinesUser({ customerId: "16505551234", profileName: "🙂🙂 123", username: "@777" })).toEqual(
      {
        id: "wa:16505551234",
        name: "+16505551234",
        phone: "+16505551234",
        skip_phone_validate: "Y",
      },
    );
    expect(toOpenLinesUser({ customerId: "US.1", username: " @12345 " }).name).toBe("@12345");
    expect(toOpenLinesUser({ customerId: "US.1", username: `@${"1".repeat(40)}` }).name).toBe(
      `@${"1".repeat(24)}`,
    );
    expect(toOpenLinesUser({ customerId: "US.1", username: "  " })).toEqual({
      id: "wa:user:US.1",
      name: "WhatsApp customer",
      skip_phone_validate: "Y",
    });
  });
});
