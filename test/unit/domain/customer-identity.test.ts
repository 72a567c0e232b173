import { describe, expect, it } from "vitest";
import {
  aliasScopeOf,
  identityChangeOf,
  identityOf,
  recipientFor,
} from "#shared/domain/customer-identity.ts";
import { fixtureJson } from "../../fixtures.ts";

const changeValue = (name: string) => fixtureJson<any>(`meta/${name}.json`).entry[0].changes[0].value;

describe("customer identity", () => {
  it("reads phone, BSUID and username from a message and its contact", () => {
    const withPhone = changeValue("webhook_text_bsuid_with_phone");
    expect(identityOf(withPhone.messages[0], withPhone.contacts[0], "from")).toEqual({
      phone: "919810218674",
      userId: "IN.1410018717833190",
      name: "Krish Thakur",
    });
    const only = changeValue("webhook_text_bsuid_only");
    expect(identityOf(only.messages[0], only.contacts[0], "from")).toEqual({
      userId: "IN.1410018717833190",
      username: "krish.thakur",
      name: "Krish Thakur",
    });
  });

  it("reads the recipient of an echo, with the parent BSUID (pywa's payload)", () => {
    const value = changeValue("webhook_smb_message_echoes");
    const echo = { ...value.message_echoes[0], to: "972987654321", to_user_id: "US.13491208655302741918" };
    expect(identityOf(echo, value.contacts[0], "to")).toMatchObject({
      phone: "972987654321",
      userId: "US.13491208655302741918",
    });
  });

  it("names the customer of a user-id change by the previous id, and reads both kinds of change", () => {
    const idChange = changeValue("webhook_system_user_changed_user_id").messages[0];
    expect(identityOf(idChange, undefined, "from")).toEqual({ userId: "CO.1234567890" });
    expect(identityChangeOf(idChange)).toEqual({ userId: "MX.0987654321" });
    expect(identityChangeOf(changeValue("webhook_system_user_changed_number").messages[0])).toEqual({
      phone: "972912345678",
    });
  });

  it("scopes the alias by business portfolio when known, else by WABA", () => {
    expect(aliasScopeOf({ wabaId: "1", businessId: "77" })).toBe("biz:77");
    expect(aliasScopeOf({ wabaId: "1" })).toBe("waba:1");
  });

  it("replies to the phone when known, else to the BSUID as recipient", () => {
    expect(recipientFor({ key: "IN.1", phone: "9198" })).toEqual({ to: "9198" });
    expect(recipientFor({ key: "9198" })).toEqual({ to: "9198" });
    expect(recipientFor({ key: "IN.1" })).toEqual({ recipient: "IN.1" });
    expect(recipientFor({ key: "CO.1", userId: "MX.2" })).toEqual({ recipient: "MX.2" });
  });
});
