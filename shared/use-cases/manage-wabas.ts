import { GraphApiError, NotFoundError, ValidationError } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { MetaGraph } from "../ports/meta-graph.ts";
import type { AppRecord, AppStore, Page, WabaRecord, WabaStore } from "../ports/store.ts";
import type { WabaCreateBody, WabaPatchBody, WabaView } from "../schemas/admin.ts";
import { definedOnly } from "./manage-apps.ts";

export interface WabaDeps {
  readonly store: AppStore & WabaStore;
  readonly graph: MetaGraph;
  readonly clock: Clock;
}

/** Meta's code for an access token that is expired, revoked or otherwise invalid. */
const INVALID_TOKEN = 190;

export function toWabaView(waba: WabaRecord, app: AppRecord | undefined): WabaView {
  const { accessToken: _token, ...visible } = waba;
  return { ...visible, verifyToken: app?.verifyToken ?? "" };
}

export function makeManageWabas({ store, graph, clock }: WabaDeps) {
  async function appOf(appId: string): Promise<AppRecord> {
    const app = await store.getApp(appId);
    if (!app) throw new ValidationError(`appId: no app ${appId}; create it first`, [{ path: ["appId"] }]);
    return app;
  }

  /**
   * Subscribes the app to the WABA's webhooks with the WABA's token and records the outcome: Meta's
   * refusal is shown on the resource (and a 190 flags the token) instead of failing the admin call.
   */
  async function subscribe(waba: WabaRecord, app: AppRecord): Promise<WabaRecord> {
    const target = { accessToken: waba.accessToken, graphApiVersion: app.graphApiVersion };
    try {
      await graph.subscribeApp(waba.wabaId, target);
      return { ...waba, subscribed: true, subscribeError: null, tokenStatus: "valid" };
    } catch (error) {
      if (!(error instanceof GraphApiError)) throw error;
      return {
        ...waba,
        subscribed: false,
        subscribeError: { code: error.graphCode, message: error.message },
        tokenStatus: error.graphCode === INVALID_TOKEN ? "invalid" : waba.tokenStatus,
      };
    }
  }

  return {
    /**
     * 1. The app must exist (400 naming appId otherwise); a known WABA id is a 409.
     * 2. Store the WABA (token sealed), then subscribe the app to it and store the outcome.
     */
    async create(body: WabaCreateBody): Promise<{ waba: WabaRecord; app: AppRecord }> {
      const app = await appOf(body.appId);
      const now = clock.now().toISOString();
      const fresh: WabaRecord = {
        ...body,
        subscribed: false,
        subscribeError: null,
        tokenStatus: "unknown",
        createdAt: now,
        updatedAt: now,
      };
      await store.createWaba(fresh);
      const waba = await subscribe(fresh, app);
      await store.putWaba(waba);
      return { waba, app };
    },

    async get(wabaId: string): Promise<{ waba: WabaRecord; app: AppRecord | undefined }> {
      const waba = await store.getWaba(wabaId);
      if (!waba) throw new NotFoundError(`WABA ${wabaId} not found`);
      return { waba, app: await store.getApp(waba.appId) };
    },

    async list(
      cursor: string | undefined,
      limit: number,
    ): Promise<Page<{ waba: WabaRecord; app?: AppRecord }>> {
      const page = await store.listWabas(cursor, limit);
      const apps = new Map<string, AppRecord | undefined>();
      for (const w of page.items) if (!apps.has(w.appId)) apps.set(w.appId, await store.getApp(w.appId));
      return { ...page, items: page.items.map((waba) => ({ waba, app: apps.get(waba.appId) })) };
    },

    /** A new token or app re-subscribes, which is also how an admin clears `tokenStatus: invalid`. */
    async update(wabaId: string, patch: WabaPatchBody): Promise<{ waba: WabaRecord; app: AppRecord }> {
      const { waba: previous } = await this.get(wabaId);
      const app = await appOf(patch.appId ?? previous.appId);
      let waba: WabaRecord = { ...previous, ...definedOnly(patch), updatedAt: clock.now().toISOString() };
      if (patch.accessToken !== undefined || (patch.appId !== undefined && patch.appId !== previous.appId)) {
        waba = await subscribe({ ...waba, tokenStatus: "unknown" }, app);
      }
      await store.putWaba(waba);
      return { waba, app };
    },

    async remove(wabaId: string): Promise<void> {
      await this.get(wabaId);
      await store.deleteWaba(wabaId);
    },
  };
}
