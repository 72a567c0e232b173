/**
 * The `user` block of `imconnector.send.messages` for a WhatsApp customer. Bitrix24 keys the Open Lines
 * session on `connector|line|chat.id|user.id`, and its docs restrict `name`/`last_name` to letters,
 * spaces, hyphens and apostrophes, 25 characters at most, any language and case.
 */
export interface OpenLinesUserInput {
  /** The event's customer key: `wa_id` (digits) or, when Meta omits the phone, the business-scoped user id. */
  readonly customerId: string;
  readonly waId?: string;
  readonly userId?: string;
  /** The customer's current phone (digits) when it differs from the key, e.g. after a change of number. */
  readonly phone?: string;
  /** `contacts[].profile.name`: free text, often with emoji. */
  readonly profileName?: string;
  /** `contacts[].profile.username`, when the customer set a WhatsApp username. */
  readonly username?: string;
}

export interface OpenLinesUser {
  readonly id: string;
  readonly name: string;
  readonly last_name?: string;
  readonly phone?: string;
  readonly skip_phone_validate: "Y";
}

const NAME_MAX = 25;
const FALLBACK_NAME = "WhatsApp customer";

export function toOpenLinesUser(input: OpenLinesUserInput): OpenLinesUser {
  // A changing user.id makes Bitrix24 open a second chat and a duplicate lead, so the id depends only on
  // who the customer is: the phone when Meta gives it, else the business-scoped user id.
  const waId = digits(input.waId) ?? (/^\d+$/.test(input.customerId) ? input.customerId : undefined);
  const id = waId ? `wa:${waId}` : `wa:user:${input.userId?.trim() || input.customerId}`;
  const current = digits(input.phone) ?? waId;
  const phone = current ? `+${current}` : undefined;

  const words = letterWords(input.profileName);
  const usernameWords = letterWords(input.username);
  const fromUsername = words.length > 0 ? words : usernameWords;
  const [first, ...rest] = fromUsername;
  // The username goes with the name (as letters, the only thing Bitrix24 keeps in a name), so an operator
  // can tell apart two customers who chose the same profile name.
  if (words.length > 0 && usernameWords.length > 0) rest.push(...usernameWords);
  // Both fallbacks break the letters-only rule (digits, "+", "_"); they are used only when no letter is
  // left, because an operator can still tell who wrote, which a generic label would not allow.
  const name =
    first !== undefined
      ? clip(first)
      : (phone ??
        (input.username?.trim() ? [...input.username.trim()].slice(0, NAME_MAX).join("") : FALLBACK_NAME));
  const lastName = clip(rest.join(" "));

  return {
    id,
    name,
    ...(lastName ? { last_name: lastName } : {}),
    ...(phone ? { phone } : {}),
    // Bitrix24's CRM phone validator rejects some valid international numbers; wa_id is already E.164.
    skip_phone_validate: "Y",
  };
}

function digits(value: string | undefined): string | undefined {
  const d = value?.replace(/\D/g, "");
  return d ? d : undefined;
}

const LETTER = /\p{L}/u;
const MARK = /\p{M}/u;
// Variation selectors are combining marks, but they only ever style emoji.
const VARIATION_SELECTOR = /[\u{FE00}-\u{FE0F}\u{E0100}-\u{E01EF}]/u;
const APOSTROPHE = /['\u2018\u2019\u02BC]/u;
const HYPHEN = /[-\u2010\u2011]/u;

/**
 * Words made of what Bitrix24 accepts: letters (any script, composed first so "é" is one letter, with
 * combining marks kept after a letter because Indic and Thai names need them), apostrophes and hyphens
 * inside a word. Emoji, digits and every other symbol become word breaks.
 */
function letterWords(raw: string | undefined): string[] {
  if (!raw) return [];
  let out = "";
  let afterLetter = false;
  for (const ch of raw.normalize("NFC")) {
    const keep: boolean = LETTER.test(ch) || (afterLetter && MARK.test(ch) && !VARIATION_SELECTOR.test(ch));
    if (keep) out += ch;
    else if (APOSTROPHE.test(ch)) out += "'";
    else if (HYPHEN.test(ch)) out += "-";
    else out += " ";
    afterLetter = keep;
  }
  return out
    .split(" ")
    .map((word) => word.replace(/[-']{2,}/g, (run) => run.charAt(0)).replace(/^[-']+|[-']+$/g, ""))
    .filter((word) => word.length > 0);
}

/** At most 25 characters (code points, as PHP's mb_strlen counts), never ending in a separator. */
function clip(value: string): string {
  return [...value]
    .slice(0, NAME_MAX)
    .join("")
    .replace(/[\s'-]+$/u, "");
}
