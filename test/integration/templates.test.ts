import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_TEMPLATE_CACHE_BYTES } from "#shared/adapters/dynamodb/conversation-store.ts";
import type { MetaTemplate } from "#shared/domain/template-shortcode.ts";
import { getRuntime } from "#shared/runtime.ts";
import type { RecordedRequest } from "../fakes/http-fake.ts";
import { fixtureJson } from "../fixtures.ts";
import { eventually } from "../support/stack.ts";
import { APP_ID, startWorld, WABA_ID, WABA_TOKEN, type World } from "../support/world.ts";

let world: World;

beforeAll(async () => {
  world = await startWorld();
});

afterAll(async () => {
  await world?.stop();
});

const documented = fixtureJson<{ data: MetaTemplate[] }>("meta/message_templates_list_response.json").data;
const [HELLO_WORLD, APRIL_PROMO] = documented as [MetaTemplate, MetaTemplate];

/** The two documented templates, then generated ones; every seventh is not approved. */
function catalog(count: number, prefix = "tpl"): MetaTemplate[] {
  const generated = Array.from({ length: count - 2 }, (_, i): MetaTemplate => {
    const status = i % 7 === 0 ? (i % 2 === 0 ? "PENDING" : "REJECTED") : "APPROVED";
    return {
      name: `${prefix}_${String(i).padStart(3, "0")}`,
      language: i % 3 === 0 ? "es" : "en_US",
      status,
      category: "UTILITY",
      id: String(900_000 + i),
      components: [{ type: "BODY", text: `Order {{1}} of ${prefix} ${i} ships on {{2}}.` }],
    };
  });
  return [HELLO_WORLD, APRIL_PROMO, ...generated];
}

const templateRequests = (wabaId = WABA_ID) =>
  world.meta.requests.filter((r: RecordedRequest) => r.path.endsWith(`/${wabaId}/message_templates`));

async function list(query = "", wabaId = WABA_ID) {
  return world.stack.admin("GET", `/api/admin/wabas/${wabaId}/templates${query}`);
}

interface Item {
  name: string;
  language: string;
  status: string;
  category?: string;
  shortcode: string;
  components: unknown[];
}

describe("GET /api/admin/wabas/{wabaId}/templates", () => {
  const first = catalog(130);

  it("reads every page of Meta's list and gives each template its shortcode", async () => {
    world.meta.setTemplates(WABA_ID, first);
    const res = await list();
    expect(res.status).toBe(200);
    const items = res.body.items as Item[];
    expect(items).toHaveLength(130);
    expect(new Set(items.map((i) => `${i.name}+${i.language}`))).toEqual(
      new Set(first.map((t) => `${t.name}+${t.language}`)),
    );

    const requests = templateRequests();
    expect(requests).toHaveLength(2);
    expect(requests[0]?.path).toBe(`/v25.0/${WABA_ID}/message_templates`);
    expect(requests[0]?.query).toMatchObject({
      limit: "100",
      fields: "name,language,status,category,components,parameter_format",
    });
    expect(requests[1]?.query.after).toBeTruthy();
    expect(requests.every((r) => r.headers.authorization === `Bearer ${WABA_TOKEN}`)).toBe(true);

    const byName = new Map(items.map((i) => [i.name, i]));
    expect(byName.get("hello_world")).toMatchObject({
      language: "en_US",
      status: "APPROVED",
      category: "MARKETING",
      shortcode: "template-hello_world+en_US",
    });
    expect(byName.get("hello_world")?.components).toEqual(HELLO_WORLD.components);
    expect(byName.get("2023_april_promo")?.shortcode).toBe("template-2023_april_promo+en_US+<1>|<2>");
    expect(byName.get("tpl_001")?.shortcode).toBe("template-tpl_001+en_US+<1>|<2>");
    expect(byName.get("tpl_003")?.shortcode).toBe("template-tpl_003+es+<1>|<2>");
  });

  it("puts APPROVED templates first, each group by name and language", async () => {
    const items = (await list()).body.items as Item[];
    const firstOther = items.findIndex((i) => i.status !== "APPROVED");
    expect(firstOther).toBeGreaterThan(0);
    expect(items.slice(firstOther).every((i) => i.status !== "APPROVED")).toBe(true);
    const approved = items.slice(0, firstOther).map((i) => i.name);
    expect(approved).toEqual([...approved].sort());
    expect(approved[0]).toBe("2023_april_promo");
  });

  it("filters by ?status and refuses a malformed one", async () => {
    const pending = (await list("?status=pending")).body.items as Item[];
    expect(pending.length).toBe(first.filter((t) => t.status === "PENDING").length);
    expect(pending.every((i) => i.status === "PENDING")).toBe(true);
    expect(((await list("?status=all")).body.items as Item[]).length).toBe(130);
    expect((await list("?status=not%20a%20status")).status).toBe(400);
    expect((await list("?refresh=yes")).status).toBe(400);
  });

  it("answers from the cache without asking Meta again", async () => {
    const before = templateRequests().length;
    world.meta.setTemplates(WABA_ID, catalog(3, "newer"));
    const res = await list();
    expect(res.status).toBe(200);
    expect((res.body.items as Item[]).length).toBe(130);
    expect(templateRequests().length).toBe(before);
  });

  it("reads Meta again with ?refresh=true and caches that list", async () => {
    const before = templateRequests().length;
    const res = await list("?refresh=true");
    expect((res.body.items as Item[]).map((i) => i.name)).toEqual([
      "2023_april_promo",
      "hello_world",
      "newer_000",
    ]);
    expect(templateRequests().length).toBe(before + 1);
    expect(((await list()).body.items as Item[]).length).toBe(3);
    expect(templateRequests().length).toBe(before + 1);
  });

  it("forgets the cache when Meta reports a template change", async () => {
    world.meta.setTemplates(WABA_ID, [
      ...catalog(3, "newer"),
      { ...HELLO_WORLD, name: "order_confirmation" },
    ]);
    const before = templateRequests().length;
    const webhook = fixtureJson("meta/webhook_template_status_approved.json");
    expect((await world.postWebhook(webhook)).status).toBe(200);

    const items = await eventually(async () => {
      const got = (await list()).body.items as Item[];
      return got.some((i) => i.name === "order_confirmation") ? got : undefined;
    });
    expect(items).toHaveLength(4);
    // Polls before the worker's invalidation were cache hits; the one after it read Meta once.
    expect(templateRequests().length).toBe(before + 1);
    await list();
    expect(templateRequests().length).toBe(before + 1);
  });

  it("answers 404 for an unknown WABA without calling Meta", async () => {
    const before = world.meta.requests.length;
    const res = await list("", "999000111");
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
    expect(world.meta.requests.length).toBe(before);
  });

  it("answers 502 with Meta's code when Meta refuses the token, and keeps the cached list", async () => {
    world.meta.failNext(/\/message_templates$/, 190);
    const res = await list("?refresh=true");
    expect(res.status).toBe(502);
    expect(res.body.error).toMatchObject({ code: "graph_api_error", details: { code: 190 } });
    expect(res.body.error.message).toContain("Invalid OAuth access token");

    const cached = await list();
    expect(cached.status).toBe(200);
    expect((cached.body.items as Item[]).length).toBe(4);
  });

  it("lists a WABA whose templates are too large to cache, asking Meta each time", async () => {
    const wabaId = "102290129340399";
    const created = await world.stack.admin("POST", "/api/admin/wabas", {
      wabaId,
      name: "Huge",
      appId: APP_ID,
      accessToken: WABA_TOKEN,
    });
    expect(created.status).toBe(201);
    // Random base64 gzips to about 3/4 of its size: three bodies of 200 KB cannot fit one item.
    const huge = Array.from(
      { length: 3 },
      (_, i): MetaTemplate => ({
        name: `huge_${i}`,
        language: "en",
        status: "APPROVED",
        components: [{ type: "BODY", text: randomBytes(150_000).toString("base64") }],
      }),
    );
    world.meta.setTemplates(wabaId, huge);

    const res = await list("", wabaId);
    expect(res.status).toBe(200);
    expect((res.body.items as Item[]).map((i) => i.name)).toEqual(["huge_0", "huge_1", "huge_2"]);
    const cached = await (await getRuntime()).conversations.getTemplates(wabaId);
    expect(cached === undefined).toBe(true);
    expect((await list("", wabaId)).status).toBe(200);
    expect(templateRequests(wabaId)).toHaveLength(2);
  });

  it("documents the route in the OpenAPI document", async () => {
    const res = await fetch(`${world.stack.url}/api/admin/openapi.json`);
    const doc = (await res.json()) as any;
    const operation = doc.paths["/api/admin/wabas/{wabaId}/templates"].get;
    const schema = operation.responses["200"].content["application/json"].schema;
    expect(schema.properties.items.items.required).toEqual(
      expect.arrayContaining(["name", "language", "status", "shortcode", "components"]),
    );
  });
});

describe("template cache item", () => {
  const wabaId = "555000111";
  const templates = catalog(4, "cached");

  it("round-trips the list compressed, with the time the read started", async () => {
    const { conversations } = await getRuntime();
    const at = "2026-01-01T10:00:00.000Z";
    expect(await conversations.putTemplates(wabaId, templates, at)).toBe("stored");
    expect(await conversations.getTemplates(wabaId)).toEqual({ templates, fetchedAt: at });
  });

  it("does not cache a read older than the cached one or than an invalidation", async () => {
    const { conversations } = await getRuntime();
    expect(await conversations.putTemplates(wabaId, [], "2026-01-01T09:00:00.000Z")).toBe("stale");
    expect((await conversations.getTemplates(wabaId))?.templates).toEqual(templates);

    const beforeInvalidation = new Date(Date.now() - 1000).toISOString();
    await conversations.invalidateTemplates(wabaId);
    expect(await conversations.getTemplates(wabaId)).toBeUndefined();
    expect(await conversations.putTemplates(wabaId, templates, beforeInvalidation)).toBe("stale");
    expect(await conversations.getTemplates(wabaId)).toBeUndefined();

    const afterInvalidation = new Date(Date.now() + 1).toISOString();
    expect(await conversations.putTemplates(wabaId, templates, afterInvalidation)).toBe("stored");
    expect((await conversations.getTemplates(wabaId))?.fetchedAt).toBe(afterInvalidation);
  });

  it("refuses a list that does not fit an item even compressed", async () => {
    const { conversations } = await getRuntime();
    const text = randomBytes(MAX_TEMPLATE_CACHE_BYTES * 2).toString("base64");
    const big: MetaTemplate[] = [
      { name: "big", language: "en", status: "APPROVED", components: [{ type: "BODY", text }] },
    ];
    expect(await conversations.putTemplates("555000112", big)).toBe("too-large");
    expect((await conversations.getTemplates("555000112")) === undefined).toBe(true);
  });
});
