import { NotFoundError } from "../errors.ts";
import type { BitrixStore } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { HistorySettings, HistoryStore } from "../ports/history.ts";

/** The admin switch for importing a number's WhatsApp Business app history (see `importHistory`). */
export function makeHistorySwitch({
  history,
  bitrixStore,
  clock,
}: {
  history: HistoryStore;
  bitrixStore: BitrixStore;
  clock: Clock;
}) {
  async function phoneMustExist(phoneId: string): Promise<void> {
    if (!(await bitrixStore.getPhone(phoneId))) throw new NotFoundError(`Phone ${phoneId} not found`);
  }

  return {
    async get(phoneId: string): Promise<HistorySettings> {
      await phoneMustExist(phoneId);
      return (
        (await history.getHistorySettings(phoneId)) ?? {
          enabled: false,
          maxMessages: 0,
          imported: 0,
          updatedAt: "",
        }
      );
    },
    async put(phoneId: string, body: { enabled: boolean; maxMessages: number }): Promise<HistorySettings> {
      await phoneMustExist(phoneId);
      return history.putHistorySwitch(phoneId, body.enabled, body.maxMessages, clock.now().toISOString());
    },
  };
}
