import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { getRuntime } from "#shared/runtime.ts";
import { graphError } from "../fakes/meta-graph.ts";
import { FULL, installFaultSchedule, judge, verdictLine } from "../support/faults.ts";
import { captureMetricLines, metricSum } from "../support/metric-lines.ts";
import { eventually } from "../support/stack.ts";
import { PHONE_ID, startWorld, textWebhook, type World } from "../support/world.ts";

/**
 * Operators write while Meta's Graph API fails 30% of sends on a seeded schedule — HTTP 500, 130429
 * (rate limit), 131000 (something went wrong), no answer, and sends Meta accepted whose answer was lost —
 * 100 messages to ten customers (1000 to fifty under `npm run test:faults`). Nothing may be lost or
 * reordered; the only duplicates allowed are sends whose answer was lost after Meta took them.
 */
const CUSTOMERS = FULL ? 50 : 10;
const PER_CUSTOMER = FULL ? 20 : 10;
const MAX_RUN = 3;

/** Sends whose answer was lost are counted as a metric line (GraphTimeouts). */
const metrics = captureMetricLines();
let world: World;
let lineId: number;

beforeAll(async () => {
  world = await startWorld({
    HTTP_TIMEOUT_MS: "400",
    DELIVERY_LEASE_SECONDS: "3",
    RETRY_BASE_SECONDS: "1",
    RETRY_MAX_SECONDS: "1",
  });
  lineId = (await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body.line.id;
  // Each customer writes first, so the 24-hour window is open for free text.
  const openings = customers().map((from) => ({ id: `wamid.open-${from}`, from, body: "hello" }));
  const webhook = textWebhook(openings);
  for (const m of webhook.entry[0]?.changes[0]?.value.messages ?? [])
    m.timestamp = String(Math.floor(Date.now() / 1000));
  expect((await world.postWebhook(webhook)).status).toBe(200);
  const portal = world.bitrix.portal(world.memberId);
  await eventually(
    async () =>
      openings.every((o) => portal.messages.some((m) => m.message.id === o.id)) ? true : undefined,
    60_000,
  );
}, 120_000);

afterAll(async () => {
  metrics.stop();
  await world?.stop();
});

const customers = () => Array.from({ length: CUSTOMERS }, (_, c) => `155501${String(c).padStart(5, "0")}`);

/** 30% of message sends fail; a read receipt (also POST /messages, without `to`) is not a send. */
function installSchedule(seed: number) {
  return installFaultSchedule(world.meta, {
    seed,
    share: 0.3,
    maxRun: MAX_RUN,
    applies: (req) =>
      req.method === "POST" && req.path.endsWith("/messages") && !!(req.json as { to?: unknown })?.to,
    responses: {
      server: graphError(500),
      throttled: graphError(130429),
      unknown: graphError(131000),
      timeout: { timeout: true },
      landed: { landThenHang: true },
    },
  });
}

describe("outbound under a seeded 30% Graph API failure schedule", () => {
  it("sends every operator message, in order per customer, duplicating only sends Meta took before the answer was lost", async () => {
    const tally = installSchedule(20_261_201);
    const sent = new Map<string, string[]>(customers().map((to) => [to, []]));
    let imMessageId = 500_000;
    for (let n = 0; n < PER_CUSTOMER; n++) {
      for (const to of customers()) {
        const text = `to ${to} #${n}`;
        sent.get(to)?.push(text);
        const results = await world.bitrix.deliverEvent(world.memberId, "ONIMCONNECTORMESSAGEADD", {
          CONNECTOR: CONNECTOR_ID,
          LINE: lineId,
          MESSAGES: [
            {
              im: { chat_id: 1807, message_id: ++imMessageId },
              message: { user_id: 27, text },
              chat: { id: `wa:${to}` },
            },
          ],
        });
        expect(results.map((r) => r.status)).toEqual([200]);
      }
    }

    const textOf = (body: Record<string, unknown>) =>
      String((body.text as { body?: unknown } | undefined)?.body);
    const arrived = () => {
      const map = new Map<string, string[]>();
      // Meta takes `to` with or without the leading +; the bridge sends it with one.
      for (const m of world.meta.sentMessages) {
        const to = m.to.replace(/^\+/, "");
        map.set(to, [...(map.get(to) ?? []), textOf(m.body)]);
      }
      return map;
    };
    const total = CUSTOMERS * PER_CUSTOMER;
    await eventually(
      async () =>
        new Set(world.meta.sentMessages.map((m) => `${m.to}|${textOf(m.body)}`)).size >= total
          ? true
          : undefined,
      FULL ? 500_000 : 150_000,
    );
    await world.stack.settled(60_000);

    // Meta took these and the bridge never heard: each may have gone twice.
    const landed = world.meta.requests
      .filter(
        (r) =>
          r.method === "POST" &&
          r.path.endsWith("/messages") &&
          r.fault === "landed-then-hung" &&
          r.landedStatus === 200,
      )
      .map((r) => textOf(r.json as Record<string, unknown>));
    const verdict = judge(sent, arrived(), new Set(landed));
    console.log(`Graph fault schedule: ${JSON.stringify(tally)}`);
    console.log(verdictLine("outbound", verdict));
    for (const count of Object.values(tally)) expect(count).toBeGreaterThan(0);
    expect(verdict).toMatchObject({ sent: total, lost: 0, orderViolations: 0 });
    expect(verdict.duplicated).toBe(verdict.afterAmbiguous);
    const { deadLetters } = await getRuntime();
    // Every send whose answer was lost is counted (each may have gone twice).
    expect(metricSum(metrics.lines(), "GraphTimeouts")).toBe(tally.timeout + tally.landed);
    expect((await deadLetters.list()).items).toHaveLength(0);
  }, 600_000);
});
