import { describe, expect, it } from "vitest";
import type { MetaTemplate } from "#shared/domain/template-shortcode.ts";
import { GraphApiError, NotFoundError } from "#shared/errors.ts";
import type { Logger } from "#shared/logger.ts";
import type { CachedTemplates, TemplateCacheWrite } from "#shared/ports/conversations.ts";
import type { GraphTarget } from "#shared/ports/meta-graph.ts";
import type { AppRecord, WabaRecord } from "#shared/ports/store.ts";
import {
  makeTemplateCatalog,
  TEMPLATE_CACHE_TTL_MS,
  templateListing,
} from "#shared/use-cases/template-catalog.ts";

const WABA: WabaRecord = {
  wabaId: "42",
  name: "Main",
  appId: "7",
  accessToken: "EAAG-token",
  subscribed: true,
  subscribeError: null,
  tokenStatus: "valid",
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
};
const APP = { appId: "7", graphApiVersion: "v26.0" } as AppRecord;

const t = (name: string, status = "APPROVED", language = "en_US"): MetaTemplate => ({
  name,
  language,
  status,
  components: [{ type: "BODY", text: "Hi {{1}}" }],
});

function setup(options: { cacheFails?: "read" | "write"; ttlMs?: number } = {}) {
  let now = Date.parse("2026-03-01T12:00:00.000Z");
  let meta: MetaTemplate[] = [t("first")];
  const cache = new Map<string, CachedTemplates>();
  const calls: Array<{ wabaId: string; target: GraphTarget }> = [];
  const logs: string[] = [];
  let gate: PromiseWithResolvers<void> | undefined;
  const logger: Logger = {
    debug: () => undefined,
    info: (m) => logs.push(m),
    warn: (m) => logs.push(m),
    error: (m) => logs.push(m),
  };
  const catalog = makeTemplateCatalog({
    store: {
      getWaba: async (id) => (id === WABA.wabaId ? WABA : undefined),
      getApp: async (id) => (id === APP.appId ? APP : undefined),
    },
    cache: {
      getTemplates: async (id) => {
        if (options.cacheFails === "read") throw new Error("corrupt item");
        return cache.get(id);
      },
      putTemplates: async (id, templates, fetchedAt): Promise<TemplateCacheWrite> => {
        if (options.cacheFails === "write") throw new Error("DynamoDB unavailable");
        cache.set(id, { templates, fetchedAt: fetchedAt ?? new Date(now).toISOString() });
        return "stored";
      },
    },
    graph: {
      listTemplates: async (wabaId, target) => {
        calls.push({ wabaId, target });
        await gate?.promise;
        return meta;
      },
    },
    clock: { now: () => new Date(now) },
    ttlMs: options.ttlMs,
    logger,
  });
  return {
    catalog,
    cache,
    calls,
    logs,
    setMeta: (templates: MetaTemplate[]) => {
      meta = templates;
    },
    advance: (ms: number) => {
      now += ms;
    },
    hold: () => {
      gate = Promise.withResolvers<void>();
    },
    releaseAll: () => {
      gate?.resolve();
      gate = undefined;
    },
  };
}

describe("template catalog", () => {
  it("reads Meta with the WABA's token and its app's Graph version, then serves the cache", async () => {
    const s = setup();
    expect((await s.catalog.templates("42")).map((x) => x.name)).toEqual(["first"]);
    expect(s.calls).toEqual([
      { wabaId: "42", target: { accessToken: "EAAG-token", graphApiVersion: "v26.0" } },
    ]);
    expect(s.cache.get("42")?.fetchedAt).toBe("2026-03-01T12:00:00.000Z");
    s.setMeta([t("second")]);
    expect((await s.catalog.templates("42")).map((x) => x.name)).toEqual(["first"]);
    expect(s.calls).toHaveLength(1);
  });

  it("reads Meta again once the cached list is an hour old", async () => {
    const s = setup();
    await s.catalog.templates("42");
    s.setMeta([t("second")]);
    s.advance(TEMPLATE_CACHE_TTL_MS - 1);
    expect((await s.catalog.templates("42"))[0]?.name).toBe("first");
    s.advance(1);
    expect((await s.catalog.templates("42"))[0]?.name).toBe("second");
    expect(s.calls).toHaveLength(2);
  });

  it("honours a custom ttl", async () => {
    const s = setup({ ttlMs: 1000 });
    await s.catalog.templates("42");
    s.advance(1000);
    await s.catalog.templates("42");
    expect(s.calls).toHaveLength(2);
  });

  it("reads Meta when asked to refresh, however fresh the cache", async () => {
    const s = setup();
    await s.catalog.templates("42");
    s.setMeta([t("new_one")]);
    expect((await s.catalog.templates("42", { refresh: true }))[0]?.name).toBe("new_one");
    expect((await s.catalog.templates("42"))[0]?.name).toBe("new_one");
    expect(s.calls).toHaveLength(2);
  });

  it("throws NotFoundError for an unknown WABA without asking Meta", async () => {
    const s = setup();
    await expect(s.catalog.templates("99")).rejects.toBeInstanceOf(NotFoundError);
    expect(s.calls).toHaveLength(0);
  });

  it("lets Meta's error through and keeps the cached list", async () => {
    const s = setup();
    await s.catalog.templates("42");
    const failing = makeTemplateCatalog({
      store: { getWaba: async () => WABA, getApp: async () => APP },
      cache: { getTemplates: async () => s.cache.get("42"), putTemplates: async () => "stored" },
      graph: {
        listTemplates: async () => {
          throw new GraphApiError(401, 190, "Invalid OAuth access token");
        },
      },
      clock: { now: () => new Date() },
    });
    await expect(failing.templates("42", { refresh: true })).rejects.toMatchObject({ graphCode: 190 });
    expect(s.cache.get("42")?.templates[0]?.name).toBe("first");
  });

  it("never fails the caller because of the cache", async () => {
    const unreadable = setup({ cacheFails: "read" });
    expect(await unreadable.catalog.templates("42")).toHaveLength(1);
    expect(unreadable.logs).toContain("template cache unreadable; reading Meta");
    const unwritable = setup({ cacheFails: "write" });
    expect(await unwritable.catalog.templates("42")).toHaveLength(1);
    expect(unwritable.logs).toContain("templates not cached");
  });

  it("shares one read of Meta between concurrent look-ups of a WABA", async () => {
    const s = setup();
    s.hold();
    const all = Promise.all([
      s.catalog.templates("42"),
      s.catalog.templates("42"),
      s.catalog.templates("42", { refresh: true }),
    ]);
    await new Promise((r) => setTimeout(r, 10));
    s.releaseAll();
    const results = await all;
    expect(results.map((r) => r[0]?.name)).toEqual(["first", "first", "first"]);
    expect(s.calls).toHaveLength(1);
    await s.catalog.templates("42", { refresh: true });
    expect(s.calls).toHaveLength(2);
  });
});

describe("templateListing", () => {
  const templates = [
    t("zeta", "REJECTED"),
    t("beta"),
    t("alpha", "PENDING"),
    t("alpha", "APPROVED", "es"),
    t("alpha", "APPROVED", "en_US"),
  ];

  it("puts APPROVED first, each group by name then language, with shortcodes", () => {
    const items = templateListing(templates, "ALL");
    expect(items.map((i) => `${i.name}+${i.language}:${i.status}`)).toEqual([
      "alpha+en_US:APPROVED",
      "alpha+es:APPROVED",
      "beta+en_US:APPROVED",
      "alpha+en_US:PENDING",
      "zeta+en_US:REJECTED",
    ]);
    expect(items[0]?.shortcode).toBe("template-alpha+en_US+<1>");
    expect(templates[0]?.name).toBe("zeta");
  });

  it("keeps one status when asked", () => {
    expect(templateListing(templates, "rejected").map((i) => i.name)).toEqual(["zeta"]);
    expect(templateListing(templates, "PAUSED")).toEqual([]);
  });
});
