import { describe, expect, it } from "vitest";
import { JsonInputError, parseUntrustedJson } from "#shared/domain/untrusted-json.ts";

describe("parseUntrustedJson", () => {
  it("parses what JSON.parse parses, into objects without a prototype", () => {
    const value = parseUntrustedJson('{"a":[1,{"b":"c"}],"constructor":"x","toString":1}') as any;
    expect(JSON.stringify(value)).toBe('{"a":[1,{"b":"c"}],"constructor":"x","toString":1}');
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(Object.getPrototypeOf(value.a[1])).toBeNull();
    expect(value.constructor).toBe("x");
  });

  it("drops __proto__ keys and keeps their siblings, without touching any prototype", () => {
    const value = parseUntrustedJson(
      '{"__proto__":{"polluted":true},"text":{"__proto__":1,"body":"__proto__"}}',
    ) as any;
    expect(Object.keys(value)).toEqual(["text"]);
    expect(value.text.body).toBe("__proto__");
    expect(({} as any).polluted).toBeUndefined();
  });

  it("treats a prototype name spelled with JSON escapes like one spelled plainly", () => {
    // `\u005f` is `_`, `\u0063` is `c`: JSON.parse reads these as `__proto__` and `constructor`.
    const value = parseUntrustedJson(
      '{"\\u005f_proto__":{"polluted":true},"text":{"\\u005F_proto__":1,"body":"\\u0063onstructor"}}',
    ) as any;
    expect(Object.keys(value)).toEqual(["text"]);
    expect(Object.keys(value.text)).toEqual(["body"]);
    expect(Object.getPrototypeOf(value.text)).toBeNull();
    expect(value.text.body).toBe("constructor");
  });

  it("refuses nesting deeper than the limit, counting only outside strings", () => {
    expect(() => parseUntrustedJson(`${"[".repeat(100_000)}${"]".repeat(100_000)}`)).toThrow(JsonInputError);
    expect(() => parseUntrustedJson(`${"[".repeat(65)}${"]".repeat(65)}`)).toThrow(/deeper than 64/);
    expect(parseUntrustedJson(`${"[".repeat(64)}${"]".repeat(64)}`)).toBeDefined();
    // Deep text naming a prototype member is refused too, before the prototype-free second parse.
    const deepObjects = `${'{"constructor":'.repeat(100_000)}1${"}".repeat(100_000)}`;
    expect(() => parseUntrustedJson(deepObjects)).toThrow(/deeper than 64/);
    expect(() => parseUntrustedJson(`{"a":${"[".repeat(64)}${"]".repeat(64)}}`)).toThrow(/deeper than 64/);
    expect(parseUntrustedJson(`{"t":"${"[{".repeat(200)}\\"["}`)).toEqual({ t: `${"[{".repeat(200)}"[` });
  });

  it("gives a plain parse to text naming nothing Object.prototype has", () => {
    expect(parseUntrustedJson('{"a":[1,{"b":"c"}]}')).toEqual({ a: [1, { b: "c" }] });
  });

  it("refuses what is not JSON", () => {
    expect(() => parseUntrustedJson("{not json")).toThrow(JsonInputError);
  });
});
