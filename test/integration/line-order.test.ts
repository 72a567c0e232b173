import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRuntime } from "#shared/runtime.ts";
import { eventually } from "../support/stack.ts";
import { startWorld, textWebhook, type World } from "../support/world.ts";

/**
 * A conversation's messages that share one Bitrix24 call keep their order when one of them cannot be
 * checked: its delivered-marker read fails (DynamoDB Local is real; the worker's client is made to fail
 * that one read once, as a throttled or dropped request would).
 */
let world: World;
/** Message ids whose delivered-marker read fails once more. */
const failMarkerReadOf = new Map<string, number>();

beforeAll(async () => {
  world = await startWorld();
  (await getRuntime()).tableClient.db.middlewareStack.add(
    (next, context) => async (args) => {
      const raw = (args.input as { Key?: { sk?: unknown } }).Key?.sk;
      const sk = typeof raw === "string" ? raw : (raw as { S?: unknown } | undefined)?.S;
      if (context.commandName === "GetItemCommand" && typeof sk === "string") {
        for (const [id, left] of failMarkerReadOf) {
          if (left > 0 && sk.endsWith(`#${id}`)) {
            failMarkerReadOf.set(id, left - 1);
            throw Object.assign(new Error("injected: the marker read got no answer"), {
              name: "InternalServerError",
              $fault: "server",
            });
          }
        }
      }
      return next(args);
    },
    { step: "initialize", name: "failMarkerRead" },
  );
});

afterAll(async () => {
  await world?.stop();
});

const shown = (prefix: string) =>
  world.bitrix
    .portal(world.memberId)
    .messages.filter((m) => m.result.SUCCESS === true && String(m.message.id).startsWith(prefix))
    .map((m) => String(m.message.id));

describe("one conversation's messages in one call", () => {
  it("does not let a later one overtake an earlier one whose delivered marker could not be read", async () => {
    const ids = ["wamid.order-0", "wamid.order-1", "wamid.order-2"];
    failMarkerReadOf.set("wamid.order-0", 1);
    // One webhook: one queue batch, the three prepared one after another and sent in one call.
    const res = await world.postWebhook(
      textWebhook(ids.map((id) => ({ id, from: "16505550960", body: `text of ${id}` }))),
    );
    expect(res.status).toBe(200);
    await eventually(async () => (shown("wamid.order-").length >= ids.length ? true : undefined), 20_000);
    await world.stack.settled();
    expect(failMarkerReadOf.get("wamid.order-0")).toBe(0);
    expect(shown("wamid.order-")).toEqual(ids);
  });
});
