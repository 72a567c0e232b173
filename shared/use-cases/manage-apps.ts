import { randomBytes } from "node:crypto";
import { ConflictError, NotFoundError } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { AppRecord, AppStore, Page, WabaStore } from "../ports/store.ts";
import type { AppCreateBody, AppPatchBody, AppView } from "../schemas/admin.ts";

export interface AppDeps {
  readonly store: AppStore & WabaStore;
  readonly clock: Clock;
}

/** What an admin sees of an app: everything but the secret, plus what to paste into Meta's dashboard. */
export function toAppView(app: AppRecord, baseUrl: string): AppView {
  const { appSecret: _secret, ...visible } = app;
  return {
    ...visible,
    webhookUrls: [`${baseUrl}/api/waba/`, `${baseUrl}/api/waba/?app_id=${encodeURIComponent(app.appId)}`],
  };
}

export function makeManageApps({ store, clock }: AppDeps) {
  return {
    /**
     * 1. Generate the verify token Meta's handshake must present.
     * 2. Store the app (secret sealed) with its domain and verify-token look-ups, atomically.
     */
    async create(body: AppCreateBody): Promise<AppRecord> {
      const now = clock.now().toISOString();
      const app: AppRecord = {
        ...body,
        domains: [...new Set(body.domains)],
        verifyToken: randomBytes(24).toString("base64url"),
        createdAt: now,
        updatedAt: now,
      };
      await store.createApp(app);
      return app;
    },

    async get(appId: string): Promise<AppRecord> {
      const app = await store.getApp(appId);
      if (!app) throw new NotFoundError(`App ${appId} not found`);
      return app;
    },

    list(cursor: string | undefined, limit: number): Promise<Page<AppRecord>> {
      return store.listApps(cursor, limit);
    },

    async update(appId: string, patch: AppPatchBody): Promise<AppRecord> {
      const previous = await this.get(appId);
      const next: AppRecord = {
        ...previous,
        ...definedOnly(patch),
        domains: patch.domains ? [...new Set(patch.domains)] : previous.domains,
        updatedAt: clock.now().toISOString(),
      };
      await store.updateApp(next, previous);
      return next;
    },

    /** An app still used by a WABA stays: deleting it would silently stop that WABA's webhooks. */
    async remove(appId: string): Promise<void> {
      const app = await this.get(appId);
      const users = await store.countWabasOfApp(appId);
      if (users > 0)
        throw new ConflictError(`App ${appId} is used by ${users} WABA(s); delete or move them first`);
      await store.deleteApp(app);
    },
  };
}

export function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}
