import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { getRuntime } from "#shared/runtime.ts";
import { seededRandom } from "../fakes/http-fake.ts";
import { graphError } from "../fakes/meta-graph.ts";
import { fixtureJson } from "../fixtures.ts";
import { FULL, installFaultSchedule, judge, verdictLine } from "../support/faults.ts";
import { metricLines, metricSum } from "../support/metric-lines.ts";
import { eventually } from "../support/stack.ts";
import { forOurNumber, PHONE_ID, startWorld, textWebhook, type World } from "../support/world.ts";

/**
 * Operators write while Meta's Graph API fails 30% of sends on a seeded schedule — HTTP 500, 130429
 * (rate limit), 131000 (something went wrong), no answer, and sends Meta accepted whose answer was lost —
 * 100 messages to ten customers (1000 to fifty under `npm run test:faults`). Nothing may be lost or
 * reordered; the only duplicates allowed are sends whose answer was lost after Meta took them.
 */
const CUSTOMERS = FULL ? 50 : 10;
const PER_CUSTOMER = FULL ? 20 : 10;
const MAX_RUN = 3;

let world: World;
let lineId: number;

beforeAll(async () => {
  world = await startWorld({
    HTTP_TIMEOUT_MS: "400",
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
    expect(metricSum(metricLines(world.stack.logs), "GraphTimeouts")).toBe(tally.timeout + tally.landed);
    expect((await deadLetters.list()).items).toHaveLength(0);
  }, 600_000);
});

/**
 * Meta's statuses for those messages arrive out of order and repeated — read before delivered, each
 * posted twice — while Bitrix24 fails 30% of the delivery reports (QUERY_LIMIT_EXCEEDED, 500, no answer
 * before the timeout). Each message is reported delivered exactly once and its stored status never moves
 * back from read. Reports that landed and then timed out are left out: resending a report Bitrix24 took
 * is the at-least-once case, not a status going backwards.
 */
describe("read-before-delivered statuses under a Bitrix24 fault schedule", () => {
  it("reports each message delivered once and never moves a status back", async () => {
    const { conversations } = await getRuntime();
    const sample = FULL ? 200 : 40;
    const recorded: { wamid: string; to: string }[] = [];
    for (const m of world.meta.sentMessages) {
      if (recorded.length === sample) break;
      const out = await conversations.getOutbound(m.wamid);
      if (out && out.status !== "read") recorded.push({ wamid: m.wamid, to: m.to.replace(/^\+/, "") });
    }
    expect(recorded).toHaveLength(sample);
    const tally = installFaultSchedule(world.bitrix, {
      seed: 20_261_202,
      share: 0.3,
      maxRun: MAX_RUN,
      applies: (req) => req.path.endsWith("imconnector.send.status.delivery"),
      responses: {
        limit: {
          status: 503,
          body: { error: "QUERY_LIMIT_EXCEEDED", error_description: "Too many requests" },
        },
        server: { status: 500, body: { error: "INTERNAL_SERVER_ERROR", error_description: "x" } },
        timeout: { timeout: true },
      },
    });
    const statusWebhook = (wamid: string, to: string, status: string) => {
      const payload = forOurNumber(fixtureJson<any>("meta/webhook_status_sent.json"));
      const item = payload.entry[0].changes[0].value.statuses[0];
      Object.assign(item, {
        id: wamid,
        recipient_id: to,
        status,
        timestamp: String(Math.floor(Date.now() / 1000)),
      });
      return payload;
    };
    // Per message: read, delivered, then both again; messages interleaved on a seeded shuffle.
    const random = seededRandom(20_261_203);
    const pending = recorded.map((r) => ({ ...r, left: ["read", "delivered", "read", "delivered"] }));
    while (pending.length) {
      const i = Math.floor(random() * pending.length);
      const next = pending[i] as (typeof pending)[number];
      const status = next.left.shift() as string;
      if (!next.left.length) pending.splice(i, 1);
      expect((await world.postWebhook(statusWebhook(next.wamid, next.to, status))).status).toBe(200);
    }
    await world.stack.settled(FULL ? 300_000 : 120_000);

    const portal = world.bitrix.portal(world.memberId);
    const reports = (wamid: string) =>
      portal.deliveryStatuses.filter((s) => JSON.stringify(s.items).includes(wamid)).length;
    const counts = recorded.map((r) => reports(r.wamid));
    const statuses = await Promise.all(
      recorded.map(async (r) => (await conversations.getOutbound(r.wamid))?.status),
    );
    console.log(
      `statuses: ${recorded.length} messages read before delivered, ` +
        `${counts.filter((n) => n > 1).length} reported twice, ${counts.filter((n) => n === 0).length} never, ` +
        `${statuses.filter((s) => s !== "read").length} moved back (faults ${Object.values(tally).reduce((a, b) => a + b, 0)})`,
    );
    for (const count of Object.values(tally)) expect(count).toBeGreaterThan(0);
    expect(counts).toEqual(recorded.map(() => 1));
    expect(statuses).toEqual(recorded.map(() => "read"));
    expect(portal.readingStatuses).toHaveLength(0);
  }, 600_000);
});
