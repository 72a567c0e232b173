import { type FaultResponse, type HttpFake, type RecordedRequest, seededRandom } from "../fakes/http-fake.ts";

/**
 * The fault suite's sizes and its one-line verdicts. `npm test` runs the short form; `npm run
 * test:faults` sets FAULT_SUITE=full for the documented sizes (1000 messages each way).
 */
export const FULL = process.env.FAULT_SUITE === "full";

export interface Verdict {
  readonly sent: number;
  readonly lost: number;
  readonly duplicated: number;
  /** Duplicates of messages whose send landed and whose answer was lost (the fakes record which). */
  readonly afterAmbiguous: number;
  readonly orderViolations: number;
}

/** `inbound: 1000 sent, 0 lost, 3 duplicated (3 after an ambiguous failure), 0 order violations` */
export function verdictLine(direction: "inbound" | "outbound", v: Verdict): string {
  return (
    `${direction}: ${v.sent} sent, ${v.lost} lost, ${v.duplicated} duplicated ` +
    `(${v.afterAmbiguous} after an ambiguous failure), ${v.orderViolations} order violations`
  );
}

/**
 * Message ids grouped by conversation, in the order given: ids of the form `wamid.<tag>-<customer>-<n>`
 * (the fault tests' own), grouped by `<customer>`.
 */
export function byConversation(ids: readonly string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const id of ids) {
    const customer = id.split("-")[1] ?? "";
    map.set(customer, [...(map.get(customer) ?? []), id]);
  }
  return map;
}

/**
 * Compares what arrived (in arrival order, duplicates included) with what was sent, per conversation:
 * lost = sent but never arrived; duplicated = arrivals beyond the first; an order violation is a
 * message whose first arrival came before that of a message sent earlier in its conversation.
 */
export function judge(
  sent: ReadonlyMap<string, readonly string[]>,
  arrived: ReadonlyMap<string, readonly string[]>,
  ambiguous: ReadonlySet<string>,
): Verdict {
  let afterAmbiguous = 0;
  let total = 0;
  let lost = 0;
  let duplicated = 0;
  let orderViolations = 0;
  for (const [conversation, expected] of sent) {
    const got = arrived.get(conversation) ?? [];
    total += expected.length;
    const firstSeen = [...new Set(got)];
    duplicated += got.length - firstSeen.length;
    for (const m of firstSeen) if (ambiguous.has(m)) afterAmbiguous += got.filter((g) => g === m).length - 1;
    lost += expected.filter((m) => !firstSeen.includes(m)).length;
    const rank = new Map(expected.map((m, i) => [m, i]));
    let highest = -1;
    for (const m of firstSeen) {
      const r = rank.get(m);
      if (r === undefined) continue;
      if (r < highest) orderViolations += 1;
      highest = Math.max(highest, r);
    }
  }
  return { sent: total, lost, duplicated, afterAmbiguous, orderViolations };
}

/**
 * Fails a share of the requests `applies` picks, on a seeded schedule: which ones fail is random
 * (repeatable by seed), the kinds of failure take turns so every kind happens even in a short run, and no
 * run of failures is longer than `maxRun`. Returns the tally of failures per kind as they happen.
 */
export function installFaultSchedule<K extends string>(
  fake: HttpFake,
  options: {
    seed: number;
    share: number;
    maxRun: number;
    applies: (req: RecordedRequest) => boolean;
    responses: Record<K, FaultResponse>;
  },
): Record<K, number> {
  const random = seededRandom(options.seed);
  const kinds = Object.keys(options.responses) as K[];
  const tally = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<K, number>;
  const decided = new WeakMap<RecordedRequest, K | null>();
  let run = 0;
  let failures = 0;
  const decide = (req: RecordedRequest): K | null => {
    if (!options.applies(req)) return null;
    let kind = decided.get(req);
    if (kind === undefined) {
      const fail = run < options.maxRun && random() < options.share;
      kind = fail ? (kinds[failures++ % kinds.length] as K) : null;
      run = fail ? run + 1 : 0;
      if (kind) tally[kind] += 1;
      decided.set(req, kind);
    }
    return kind;
  };
  for (const kind of kinds) {
    fake.inject({
      match: (req) => decide(req) === kind,
      times: Number.POSITIVE_INFINITY,
      response: options.responses[kind],
    });
  }
  return tally;
}
