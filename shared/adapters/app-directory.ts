import type { AppRecord, AppStore } from "../ports/store.ts";
import type { AppDirectory } from "../use-cases/ingest-webhook.ts";

const TTL_MS = 60_000;

/**
 * Apps change rarely and webhooks arrive often: a warm Lambda keeps look-ups for a minute. A signature
 * that fails against cached apps is retried against fresh ones, so a rotated secret works at once.
 */
export class CachedAppDirectory implements AppDirectory {
  readonly #store: AppStore;
  readonly #cache = new Map<string, { at: number; apps: AppRecord[] }>();

  constructor(store: AppStore) {
    this.#store = store;
  }

  async byId(appId: string, fresh: boolean): Promise<AppRecord | undefined> {
    const [app] = await this.#cached(`id:${appId}`, fresh, async () => {
      const found = await this.#store.getApp(appId);
      return found ? [found] : [];
    });
    return app;
  }

  byHost(host: string, fresh: boolean): Promise<AppRecord[]> {
    return this.#cached(`host:${host}`, fresh, () => this.#store.findAppsByDomain(host));
  }

  byVerifyToken(token: string): Promise<AppRecord | undefined> {
    return this.#store.findAppByVerifyToken(token);
  }

  async #cached(key: string, fresh: boolean, load: () => Promise<AppRecord[]>): Promise<AppRecord[]> {
    const hit = this.#cache.get(key);
    if (!fresh && hit && Date.now() - hit.at < TTL_MS) return hit.apps;
    const apps = await load();
    this.#cache.set(key, { at: Date.now(), apps });
    return apps;
  }
}
