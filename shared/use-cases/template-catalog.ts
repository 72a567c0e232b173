import { type MetaTemplate, shortcodeFor } from "../domain/template-shortcode.ts";
import { NotFoundError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { Clock } from "../ports/clock.ts";
import type { ConversationStore } from "../ports/conversations.ts";
import type { MetaGraph } from "../ports/meta-graph.ts";
import type { AppStore, WabaRecord, WabaStore } from "../ports/store.ts";
import type { TemplateView } from "../schemas/admin.ts";

/** Meta's template list is read at most this often per WABA unless asked to refresh (one hour). */
export const TEMPLATE_CACHE_TTL_MS = 3_600_000;

export interface TemplateCatalogDeps {
  readonly store: Pick<AppStore & WabaStore, "getWaba" | "getApp">;
  readonly cache: Pick<ConversationStore, "getTemplates" | "putTemplates">;
  readonly graph: Pick<MetaGraph, "listTemplates">;
  readonly clock: Clock;
  /** How long a cached list is used without asking Meta. */
  readonly ttlMs?: number;
  readonly logger?: Logger;
}

export interface TemplateCatalog {
  /**
   * All of the WABA's templates (every status), in Meta's order. `refresh` reads Meta even when the
   * cached list is fresh — for a shortcode naming a template the cached list does not have, or an admin
   * who knows the list changed. @throws NotFoundError for an unknown WABA, GraphApiError when Meta fails.
   */
  templates(wabaId: string, opts?: { refresh?: boolean }): Promise<MetaTemplate[]>;
}

/**
 * The WABA's message templates, cached in DynamoDB (`TPL#<wabaId>`) for `ttlMs`. The cache only ever
 * saves reads of Meta: failing to read or write it is logged and the caller gets Meta's list. A template
 * webhook (status or components update) invalidates the cache through the inbound worker.
 */
export function makeTemplateCatalog({
  store,
  cache,
  graph,
  clock,
  ttlMs = TEMPLATE_CACHE_TTL_MS,
  logger,
}: TemplateCatalogDeps): TemplateCatalog {
  /** Reads of Meta in progress in this container, by WABA. */
  const inflight = new Map<string, Promise<MetaTemplate[]>>();

  function isFresh(fetchedAt: string): boolean {
    const age = clock.now().getTime() - Date.parse(fetchedAt);
    // A little negative when another container's clock runs ahead; NaN (unreadable) is never fresh.
    return Math.abs(age) < ttlMs;
  }

  async function readCache(wabaId: string) {
    try {
      return await cache.getTemplates(wabaId);
    } catch (error) {
      logger?.warn("template cache unreadable; reading Meta", { wabaId, error });
      return undefined;
    }
  }

  async function readMeta(waba: WabaRecord): Promise<MetaTemplate[]> {
    const app = await store.getApp(waba.appId);
    if (!app) throw new NotFoundError(`App ${waba.appId} of WABA ${waba.wabaId} not found`);
    const startedAt = clock.now().toISOString();
    const templates = await graph.listTemplates(waba.wabaId, {
      accessToken: waba.accessToken,
      graphApiVersion: app.graphApiVersion,
    });
    try {
      const outcome = await cache.putTemplates(waba.wabaId, templates, startedAt);
      if (outcome === "too-large") {
        logger?.warn("templates not cached: too large for a DynamoDB item even compressed", {
          wabaId: waba.wabaId,
          count: templates.length,
        });
      } else if (outcome === "stale") {
        logger?.info("templates not cached: they changed while being read", { wabaId: waba.wabaId });
      }
    } catch (error) {
      logger?.warn("templates not cached", { wabaId: waba.wabaId, error });
    }
    return templates;
  }

  return {
    async templates(wabaId, opts = {}) {
      const waba = await store.getWaba(wabaId);
      if (!waba) throw new NotFoundError(`WABA ${wabaId} not found`);
      if (!opts.refresh) {
        const hit = await readCache(wabaId);
        if (hit && isFresh(hit.fetchedAt)) return hit.templates;
      }
      // Concurrent look-ups of one WABA share one read: Meta allows a WABA 200 (or 5000) requests an hour.
      let pending = inflight.get(wabaId);
      if (!pending) {
        pending = readMeta(waba).finally(() => inflight.delete(wabaId));
        inflight.set(wabaId, pending);
      }
      return pending;
    },
  };
}

export function toTemplateView(template: MetaTemplate): TemplateView {
  return {
    name: template.name,
    language: template.language,
    status: template.status,
    ...(template.category === undefined ? {} : { category: template.category }),
    shortcode: shortcodeFor(template),
    // Meta's components as listed; the schema only names the fields people look for.
    components: (template.components ?? []) as TemplateView["components"],
  };
}

/**
 * The admin listing: `status` `ALL` keeps every template, another value only those with that status.
 * APPROVED (the sendable ones) come first, then the rest; each group by name, then language.
 */
export function templateListing(templates: MetaTemplate[], status: string): TemplateView[] {
  const wanted = status.toUpperCase();
  const rank = (t: MetaTemplate) => (t.status.toUpperCase() === "APPROVED" ? 0 : 1);
  const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return templates
    .filter((t) => wanted === "ALL" || t.status.toUpperCase() === wanted)
    .sort((a, b) => rank(a) - rank(b) || byText(a.name, b.name) || byText(a.language, b.language))
    .map(toTemplateView);
}
