import { REQUIRED_SCOPES } from "../domain/bitrix-connector.ts";
import { NotFoundError } from "../errors.ts";
import type { BitrixAppRecord, BitrixStore } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { Page } from "../ports/store.ts";
import type { BitrixAppCreateBody } from "../schemas/admin.ts";

/** What an admin sees of a Bitrix24 app: no secret, and exactly what to paste into Bitrix24's app form. */
export function toBitrixAppView(app: BitrixAppRecord, baseUrl: string) {
  const { clientSecret: _secret, ...visible } = app;
  return {
    ...visible,
    handlerUrl: `${baseUrl}/api/bitrix/app/`,
    installUrl: `${baseUrl}/api/bitrix/`,
    scopes: REQUIRED_SCOPES,
  };
}

export function makeManageBitrixApps({ store, clock }: { store: BitrixStore; clock: Clock }) {
  return {
    async create(body: BitrixAppCreateBody): Promise<BitrixAppRecord> {
      const now = clock.now().toISOString();
      const app = {
        clientId: body.clientId,
        clientSecret: body.clientSecret,
        name: body.name ?? body.clientId,
        createdAt: now,
        updatedAt: now,
      };
      await store.createBitrixApp(app);
      return app;
    },
    async get(clientId: string): Promise<BitrixAppRecord> {
      const app = await store.getBitrixApp(clientId);
      if (!app) throw new NotFoundError(`Bitrix24 app ${clientId} not found`);
      return app;
    },
    list(cursor: string | undefined, limit: number): Promise<Page<BitrixAppRecord>> {
      return store.listBitrixApps(cursor, limit);
    },
    async remove(clientId: string): Promise<void> {
      await this.get(clientId);
      await store.deleteBitrixApp(clientId);
    },
  };
}
