import type { MetaWebhookEnvelope } from "../schemas/meta-webhook.ts";
import { phoneNumberIdOfChange } from "./split-webhook.ts";

/** What the registry says about the ids a webhook names: WABA → its app, phone number → its WABA. */
export interface TenancyFacts {
  readonly appOfWaba: ReadonlyMap<string, string>;
  readonly wabaOfPhone: ReadonlyMap<string, string>;
}

export interface RefusedPart {
  readonly wabaId: string;
  readonly field?: string;
  readonly phoneNumberId?: string;
  readonly reason: "waba-of-another-app" | "unknown-waba" | "phone-of-another-waba" | "unknown-phone";
}

/** The WABA ids and phone number ids a webhook names, for looking up who owns them. */
export function idsNamedBy(envelope: MetaWebhookEnvelope): { wabaIds: string[]; phoneNumberIds: string[] } {
  const wabaIds = new Set<string>();
  const phoneNumberIds = new Set<string>();
  for (const entry of envelope.entry) {
    wabaIds.add(entry.id);
    for (const change of entry.changes) {
      const phoneId = phoneNumberIdOfChange(change.field, change.value);
      if (phoneId) phoneNumberIds.add(phoneId);
    }
  }
  return { wabaIds: [...wabaIds], phoneNumberIds: [...phoneNumberIds] };
}

/**
 * A webhook acts only within the app that signed it: an entry whose WABA is not that app's, or a change
 * whose number (the one its events are split under) is not a number of that WABA, is cut out; the rest
 * stays as it was.
 * The signature proves only who sent the bytes, not that the ids inside are theirs.
 */
export function keepOwnParts(
  envelope: MetaWebhookEnvelope,
  appId: string,
  facts: TenancyFacts,
): { envelope: MetaWebhookEnvelope; refused: RefusedPart[] } {
  const refused: RefusedPart[] = [];
  const entries: MetaWebhookEnvelope["entry"] = [];
  for (const entry of envelope.entry) {
    const owner = facts.appOfWaba.get(entry.id);
    if (owner !== appId) {
      refused.push({ wabaId: entry.id, reason: owner ? "waba-of-another-app" : "unknown-waba" });
      continue;
    }
    const changes = entry.changes.filter((change) => {
      const phoneNumberId = phoneNumberIdOfChange(change.field, change.value);
      if (phoneNumberId === undefined) return true;
      const waba = facts.wabaOfPhone.get(phoneNumberId);
      if (waba === entry.id) return true;
      refused.push({
        wabaId: entry.id,
        field: change.field,
        phoneNumberId,
        reason: waba ? "phone-of-another-waba" : "unknown-phone",
      });
      return false;
    });
    if (changes.length > 0) entries.push({ ...entry, changes });
  }
  return { envelope: { ...envelope, entry: entries }, refused };
}
