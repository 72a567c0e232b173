/**
 * Text a customer wrote, made inert in the Open Lines chat: Bitrix24 renders BBCode (`[b]`, `[url=…]`,
 * `[USER=…]`…), `#BR#` line breaks and `>>` quotes in message text, so a customer could otherwise make
 * a message look like one of the bridge's own notes. A zero-width space after each `[` (and inside
 * `#BR#` and a leading `>>`) stops the markup from matching and looks the same.
 */
const ZWSP = "\u200B";

export function escapeCustomerText(text: string): string {
  return text
    .replaceAll("[", `[${ZWSP}`)
    .replace(/#BR#/gi, (m) => `#${ZWSP}${m.slice(1)}`)
    .replace(/^>>/gm, `>${ZWSP}>`);
}

/**
 * Every string inside a received message, escaped as customer text (keys and other values as they
 * were). `raw` names fields that are not shown as they are — e.g. a Flow's `response_json`, which is
 * parsed first and escaped field by field.
 */
export function escapeStringsIn<T>(value: T, raw: ReadonlySet<string> = new Set()): T {
  if (typeof value === "string") return escapeCustomerText(value) as T;
  if (Array.isArray(value)) return value.map((v) => escapeStringsIn(v, raw)) as T;
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(value)) out[k] = raw.has(k) ? v : escapeStringsIn(v, raw);
  return out as T;
}
