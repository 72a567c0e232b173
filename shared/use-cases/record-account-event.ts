import {
  type AccountEvent,
  marketingPreferenceOf,
  readAccountEvent,
  stateChangeOf,
} from "../domain/account-events.ts";
import type { InboundEvent } from "../domain/inbound-event.ts";
import type { Logger } from "../logger.ts";
import type { AccountEventStore } from "../ports/account-events.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { BitrixStore, PhoneRecord } from "../ports/bitrix-store.ts";
import type { CustomerStore } from "../ports/customers.ts";
import type { Store } from "../ports/store.ts";
import { makeCustomerDirectory } from "./customer-directory.ts";

export interface RecordAccountEventDeps {
  readonly store: Store;
  readonly bitrixStore: BitrixStore;
  readonly accountEvents: AccountEventStore;
  readonly customers: CustomerStore;
  readonly bitrix: BitrixGateway;
  readonly logger: Logger;
}

/** The portals' administrators hear of it as a Bitrix24 system notification (`im.notify.system.add`). */
export function makeNotifyAdmins({
  bitrixStore,
  bitrix,
  logger,
}: Omit<RecordAccountEventDeps, "store" | "accountEvents" | "customers">) {
  /**
   * Every portal one of the WABA's numbers (or the one number) is connected to. The tag makes Bitrix24
   * replace rather than repeat a notification when Meta redelivers the webhook.
   */
  return async function notifyAdmins(
    phones: readonly PhoneRecord[],
    message: string,
    tag: string,
  ): Promise<number> {
    let sent = 0;
    for (const memberId of new Set(phones.map((p) => p.memberId))) {
      const portal = await bitrixStore.getPortal(memberId);
      if (portal?.status !== "installed") continue;
      const admins = portal.adminUserIds ?? [];
      if (admins.length === 0) logger.warn("no administrator known to notify", { memberId, tag });
      for (const userId of admins) {
        await bitrix.call(memberId, "im.notify.system.add", {
          USER_ID: userId,
          MESSAGE: message,
          TAG: tag.slice(0, 255),
        });
        sent++;
      }
    }
    return sent;
  };
}

export function makeRecordAccountEvent(deps: RecordAccountEventDeps) {
  const { store, bitrixStore, accountEvents, customers, logger } = deps;
  const directory = makeCustomerDirectory({ customers, store });
  const notifyAdmins = makeNotifyAdmins(deps);

  async function phonesOfWaba(wabaId: string): Promise<PhoneRecord[]> {
    const phones: PhoneRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await bitrixStore.listPhones(cursor, 100);
      phones.push(...page.items.filter((p) => p.wabaId === wabaId));
      cursor = page.nextCursor;
    } while (cursor);
    return phones;
  }

  /**
   * 1. Read the change as an account event; the number it concerns is `metadata.phone_number_id`, or the
   *    WABA's number whose display number it names.
   * 2. Store it once (listed by `GET /api/admin/events`) and update the latest state on the WABA or number.
   * 3. A marketing stop/resume is recorded for the customer (a MARKETING template is refused after a stop).
   * 4. A serious one reaches the administrators of the portals the WABA's numbers are connected to.
   */
  return async function recordAccountEvent(event: InboundEvent): Promise<AccountEvent | undefined> {
    const phones = await phonesOfWaba(event.wabaId);
    const display = String((event.value as { display_phone_number?: unknown }).display_phone_number ?? "");
    const phoneId =
      event.phoneNumberId ??
      (display
        ? phones.find((p) => p.phone.replace(/\D/g, "") === display.replace(/\D/g, ""))?.phoneId
        : undefined);
    const read = readAccountEvent({
      id: event.id,
      field: event.field,
      wabaId: event.wabaId,
      ...(phoneId ? { phoneId } : {}),
      ...(event.timestamp !== undefined ? { time: event.timestamp } : {}),
      value: event.value,
    });
    if (!read) return undefined;
    await accountEvents.recordAccountEvent(read);
    const change = stateChangeOf(read);
    if (change) await accountEvents.updateAccountState(change.subject, change.id, change.patch, read.at);

    if (read.type === "user_preferences") {
      const preference = marketingPreferenceOf(event.value);
      const scope = await directory.scopeOf(event.wabaId);
      const customer =
        preference &&
        (await directory.resolve(scope, { phone: preference.phone, userId: preference.userId }));
      if (preference && customer) {
        await customers.setMarketingPreference(scope, customer.key, {
          value: preference.value,
          at: preference.at,
          ...(preference.detail ? { detail: preference.detail } : {}),
        });
      }
    }

    if (read.serious) {
      const concerned = read.phoneId ? phones.filter((p) => p.phoneId === read.phoneId) : phones;
      const sent = await notifyAdmins(
        concerned.length > 0 ? concerned : phones,
        `WhatsApp (WABA ${read.wabaId}${read.phoneId ? `, number ${read.phoneId}` : ""}): ${read.summary}`,
        `separator_waba|${read.id}`,
      );
      logger.warn("serious account event", {
        id: read.id,
        type: read.type,
        event: read.event,
        notified: sent,
      });
    } else {
      logger.info("account event", { id: read.id, type: read.type, event: read.event });
    }
    return read;
  };
}
