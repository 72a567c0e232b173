/**
 * SQS accepts only #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF in a message body
 * (emulators stricter still), while customers send anything: emoji, U+FFFF, stray surrogates. JSON lets
 * any character be written as a \u escape, so the body is JSON with every character outside the safe
 * range escaped: it parses back to exactly the same value.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: SQS's allowed set is defined by control characters.
const UNSAFE = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/g;

export function toQueueBody(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
