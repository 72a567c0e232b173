import { describe, expect, it } from "vitest";
import { makeLogger, routeLogLines } from "#shared/logger.ts";

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
