import { SQSClient } from "@aws-sdk/client-sqs";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { makeEmfMetrics } from "#shared/adapters/emf-metrics.ts";
import { makeLogger, routeLogLines } from "#shared/logger.ts";
import { metricNames } from "#shared/ports/metrics.ts";
import { runQueueBatch } from "#shared/queue-worker.ts";
import { queueConsumedBy } from "#shared/resources.ts";

describe("embedded-metric-format lines", () => {
  // The shape of AWS's "Embedded metric format specification" (CloudWatch User Guide): `_aws.Timestamp`
  // in epoch ms, `CloudWatchMetrics[]` of {Namespace, Dimensions: string[][], Metrics: [{Name, Unit}]},
  // and each dimension and metric value as a top-level member.
  it("writes one line per count, per function and, with a portal, per portal too", () => {
    const lines: string[] = [];
    const metrics = makeEmfMetrics("outbound-worker", {
      namespace: "SeparatorWaba/prod",
      write: (l) => lines.push(l),
      now: () => 1_764_590_400_000,
    });
    metrics.count(metricNames.outboundSent, 1, { portal: "member-a" });
    metrics.count(metricNames.rateLimitWaits, 3);
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      {
        _aws: {
          Timestamp: 1_764_590_400_000,
          CloudWatchMetrics: [
            {
              Namespace: "SeparatorWaba/prod",
              Dimensions: [["Service"], ["Service", "Portal"]],
              Metrics: [{ Name: "OutboundSent", Unit: "Count" }],
            },
          ],
        },
        Service: "outbound-worker",
        Portal: "member-a",
        OutboundSent: 1,
      },
      {
        _aws: {
          Timestamp: 1_764_590_400_000,
          CloudWatchMetrics: [
            {
              Namespace: "SeparatorWaba/prod",
              Dimensions: [["Service"]],
              Metrics: [{ Name: "RateLimitWaits", Unit: "Count" }],
            },
          ],
        },
        Service: "outbound-worker",
        RateLimitWaits: 3,
      },
    ]);
  });
});

describe("where metric lines go", () => {
  it("to stdout until the log lines are routed elsewhere, then beside them (a local stack's own log)", () => {
    const stdout: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => stdout.push(String(chunk)) > 0) as typeof process.stdout.write;
    const routed: string[] = [];
    try {
      makeEmfMetrics("inbound-worker").count(metricNames.outboundSent);
      routeLogLines((line) => routed.push(line));
      makeEmfMetrics("inbound-worker").count(metricNames.rateLimitWaits);
      makeLogger("inbound-worker").error("beside it");
    } finally {
      routeLogLines((line) => write.call(process.stdout, `${line}\n`));
      process.stdout.write = write;
    }
    expect(stdout.map((l) => Object.keys(JSON.parse(l)))).toEqual([expect.arrayContaining(["OutboundSent"])]);
    expect(routed.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ RateLimitWaits: 1 }),
      expect.objectContaining({ message: "beside it" }),
    ]);
  });
});

describe("queue worker counts", () => {
  it("counts each outcome's metric, retried failures and dead letters, with the message's portal", async () => {
    const counted: [string, number, string | undefined][] = [];
    const sink = {
      count: (name: string, value = 1, o: { portal?: string } = {}) => counted.push([name, value, o.portal]),
    };
    const record = (id: string, group: string, receives = "1"): SQSRecord =>
      ({
        messageId: id,
        body: JSON.stringify({ id, memberId: `portal-${group}` }),
        attributes: { MessageGroupId: group, ApproximateReceiveCount: receives },
      }) as SQSRecord;
    const queue = queueConsumedBy("outbound-worker");
    const event: SQSEvent = {
      Records: [
        record("sent", "A"),
        record("retry", "B"),
        record("last", "C", String(queue.maxReceiveCount)),
      ],
    };
    await runQueueBatch(
      event,
      {
        queue,
        sqs: new SQSClient({}),
        deadLetters: { record: async () => undefined } as never,
        retry: { baseSeconds: 1, maxSeconds: 1 },
        logger: makeLogger("t", { write: () => undefined }),
        metrics: {
          sink: sink as never,
          outcomes: { sent: metricNames.outboundSent },
          failed: metricNames.outboundFailed,
          portalOf: (body) => (body as { memberId: string }).memberId,
        },
      },
      async (body) => {
        if ((body as { id: string }).id === "sent") return "sent";
        throw new Error("Meta answered 503");
      },
    );
    expect(counted.sort()).toEqual(
      [
        ["OutboundSent", 1, "portal-A"],
        ["OutboundFailed", 1, "portal-B"],
        ["DeadLettered", 1, "portal-C"],
      ].sort(),
    );
  });
});
