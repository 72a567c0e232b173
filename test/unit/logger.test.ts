import { describe, expect, it } from "vitest";

import { makeLogger, routeLogLines, withRequestId } from "#shared/logger.ts";

describe("logger", () => {
  it("redacts secrets at any depth and keeps the rest", () => {
    const lines: string[] = [];
    makeLogger("t", { write: (l) => lines.push(l), level: "info" }).info("hello", {
      appSecret: "s1",
      nested: { accessToken: "s2", list: [{ refresh_token: "s3", id: 7 }], authorization: "Bearer s4" },
      phone: "+15550001111",
    });
    const line = lines[0] ?? "";
    for (const s of ["s1", "s2", "s3", "s4"]) expect(line).not.toContain(`"${s}"`);
    expect(JSON.parse(line)).toMatchObject({
      level: "info",
      service: "t",
      message: "hello",
      phone: "+15550001111",
    });
    expect(JSON.parse(line).nested.list[0].id).toBe(7);
  });

  it("drops entries below the level", () => {
    const lines: string[] = [];
    const log = makeLogger("t", { write: (l) => lines.push(l), level: "warn" });
    log.info("quiet");
    log.warn("loud");
    expect(lines.map((l) => JSON.parse(l).message)).toEqual(["loud"]);
  });

  it("carries the invocation's request id on every line logged inside the handler, and only there", async () => {
    const lines: string[] = [];
    const log = makeLogger("t", { write: (l) => lines.push(l), level: "info" });
    const handler = withRequestId(async (_event: unknown, _context: { awsRequestId: string }) => {
      log.info("inside");
      await new Promise((r) => setTimeout(r, 1));
      log.info("after a wait");
    });
    // Two invocations side by side (as the local stack runs them) keep their own ids.
    await Promise.all([handler({}, { awsRequestId: "req-1" }), handler({}, { awsRequestId: "req-2" })]);
    log.info("outside");
    const parsed = lines.map((l) => JSON.parse(l) as { message: string; requestId?: string });
    expect(parsed.filter((l) => l.requestId === "req-1").map((l) => l.message)).toEqual([
      "inside",
      "after a wait",
    ]);
    expect(parsed.filter((l) => l.requestId === "req-2")).toHaveLength(2);
    expect(parsed.find((l) => l.message === "outside")?.requestId).toBeUndefined();
  });

  it("logs an error's stack, and still redacts secret-named fields beside it", () => {
    const lines: string[] = [];
    makeLogger("t", { write: (l) => lines.push(l) }).error("failed", {
      error: new Error("Meta answered 500"),
      accessToken: "EAAG-secret",
    });
    const line = JSON.parse(lines[0] ?? "{}");
    expect(line.error).toMatchObject({ name: "Error", message: "Meta answered 500" });
    expect(line.error.stack).toMatch(/logger\.test\.ts/);
    expect(lines[0]).not.toContain("EAAG-secret");
  });
});

describe("routeLogLines", () => {
  it("sends the lines of loggers made without a writer to the route, even loggers made before it", () => {
    const early = makeLogger("early", { level: "info" });
    const lines: string[] = [];
    routeLogLines((l) => lines.push(l));
    try {
      early.info("one");
      makeLogger("late", { level: "info" }).warn("two");
    } finally {
      routeLogLines((l) => process.stdout.write(`${l}\n`));
    }
    expect(lines.map((l) => JSON.parse(l).service)).toEqual(["early", "late"]);
  });
});
