import type { BitrixStore } from "../ports/bitrix-store.ts";
import type { AppRecord, AppStore, WabaStore } from "../ports/store.ts";
import type { AppDirectory } from "../use-cases/ingest-webhook.ts";

const TTL_MS = 60_000;

/**
 * Apps change rarely and webhooks arrive often: a warm Lambda keeps look-ups for a minute. A signature
 * that fails against cached apps is retried against fresh ones, so a rotated secret works at once.
 */
export class CachedAppDirectory implements AppDirectory {
  readonly #store: AppStore & Pick<WabaStore, "getWaba">;
  readonly #phones: Pick<BitrixStore, "getPhone">;
  readonly #cache = new Map<string, { at: number; apps: AppRecord[] }>();
  readonly #owners = new Map<string, { at: number; owner: string }>();

  constructor(store: AppStore & Pick<WabaStore, "getWaba">, phones: Pick<BitrixStore, "getPhone">) {
    this.#store = store;
    this.#phones = phones;
  }

  appOfWaba(wabaId: string): Promise<string | undefined> {
    return this.#owner(`waba:${wabaId}`, async () => (await this.#store.getWaba(wabaId))?.appId);
  }

  wabaOfPhone(phoneNumberId: string): Promise<string | undefined> {
    return this.#owner(
      `phone:${phoneNumberId}`,
      async () => (await this.#phones.getPhone(phoneNumberId))?.wabaId,
    );
  }

  /** Only found owners are kept: a WABA or number registered a moment ago is accepted at once. */
  async #owner(key: string, load: () => Promise<string | undefined>): Promise<string | undefined> {
    const hit = this.#owners.get(key);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.owner;
    const owner = await load();
    if (owner === undefined) this.#owners.delete(key);
    else this.#owners.set(key, { at: Date.now(), owner });
    return owner;
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
