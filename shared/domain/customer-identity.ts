/**
 * Who a WhatsApp customer is. Meta names a customer by phone (`wa_id`, `from`, `recipient_id`) and,
 * since 2026-04, by a business-scoped user id (BSUID, `user_id`, `from_user_id`, `recipient_user_id`)
 * that it sends even when it withholds the phone. A customer keeps one key for good — the first identifier
 * we saw — so that the Bitrix24 user and chat, the 24-hour window and the FIFO group never split.
 */

type Json = Record<string, unknown>;

/** What one webhook item says about its customer. */
export interface SeenIdentity {
  /** Digits only. */
  readonly phone?: string;
  readonly userId?: string;
  readonly parentUserId?: string;
  readonly username?: string;
  readonly name?: string;
}

/** What we know of a customer: its key for good and its current phone and BSUID. */
export interface KnownCustomer {
  /** The customer's key: digits (a phone) or a BSUID such as `US.13491208655302741918`. */
  readonly key: string;
  readonly phone?: string;
  readonly userId?: string;
  readonly username?: string;
  /** The name the business gave the customer in its WhatsApp Business app (coexistence). */
  readonly contactName?: string;
}

/**
 * A BSUID is business-scoped: Meta scopes it to the business portfolio, so the alias between phone and
 * BSUID is kept per portfolio — or per WABA when the portfolio was not given to us.
 */
export function aliasScopeOf(waba: { wabaId: string; businessId?: string }): string {
  return waba.businessId ? `biz:${waba.businessId}` : `waba:${waba.wabaId}`;
}

export function isPhoneKey(key: string): boolean {
  return /^\d+$/.test(key);
}

/** The identity a message, status or echo names, with its matching contact (if any). */
export function identityOf(
  item: Json,
  contact: Json | undefined,
  role: "from" | "to" | "status",
): SeenIdentity {
  const profile = obj(contact?.profile);
  const system = obj(item.system);
  const phone =
    role === "from"
      ? (digits(item.from) ?? digits(contact?.wa_id))
      : role === "to"
        ? (digits(item.to) ?? digits(contact?.wa_id))
        : (digits(item.recipient_id) ?? digits(contact?.wa_id));
  const userId =
    role === "from"
      ? // A user-id change names the customer by the id it had before: that is who we know.
        (str(item.from_user_id) ?? str(contact?.user_id) ?? str(system?.previous_user_id))
      : role === "to"
        ? (str(item.to_user_id) ?? str(contact?.user_id))
        : (str(item.recipient_user_id) ?? str(contact?.user_id));
  const parentUserId =
    role === "to"
      ? (str(item.to_parent_user_id) ?? str(contact?.parent_user_id))
      : role === "status"
        ? (str(item.parent_recipient_user_id) ?? str(contact?.parent_user_id))
        : str(contact?.parent_user_id);
  return compact({
    phone,
    userId,
    parentUserId,
    username: str(profile?.username),
    name: str(profile?.name),
  });
}

/** A change of number or of BSUID announced by a `system` message: what the customer is known by now. */
export function identityChangeOf(message: Json): { phone?: string; userId?: string } | undefined {
  const system = obj(message.system);
  const type = str(system?.type);
  if (type === "user_changed_number") {
    const phone = digits(system?.wa_id) ?? digits(system?.new_wa_id);
    return phone ? { phone } : undefined;
  }
  if (type === "user_changed_user_id") {
    const userId = str(system?.user_id);
    return userId ? { userId } : undefined;
  }
  return undefined;
}

/** Where a reply goes: the phone when we know it (Meta prefers `to`), else the BSUID as `recipient`. */
export function recipientFor(customer: KnownCustomer): { to: string } | { recipient: string } {
  const phone = customer.phone ?? (isPhoneKey(customer.key) ? customer.key : undefined);
  if (phone) return { to: phone };
  return { recipient: customer.userId ?? customer.key };
}

function digits(v: unknown): string | undefined {
  const d = typeof v === "string" || typeof v === "number" ? String(v).replace(/\D/g, "") : "";
  return d ? d : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v.trim() ? v.trim() : undefined;
}

function obj(v: unknown): Json | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function compact<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
