/**
 * Meta and Bitrix24 payloads from independent sources — the platforms' docs (copied from
 * `shared/fixtures/`), and other projects' recordings and typed models (b24phpsdk, b24pysdk, pywa) — each
 * with `NAME.source.txt` beside it naming where it comes from, so the fakes and their tests do not depend
 * on a sibling checkout.
 * Names are relative to `test/fixtures/`, e.g. `"meta/webhook_text.json"`.
 */
import { readFileSync } from "node:fs";

const dir = new URL("./fixtures/", import.meta.url);

export function fixtureBytes(name: string): Buffer {
  return readFileSync(new URL(name, dir));
}

export function fixtureText(name: string): string {
  return fixtureBytes(name).toString("utf8");
}

export function fixtureJson<T = unknown>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}
