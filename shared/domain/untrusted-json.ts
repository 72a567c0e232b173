/**
 * JSON from outside (webhooks, admin bodies) parsed so that nothing in it can reach code it should not:
 * - nesting deeper than `maxDepth` is refused (recursive code further on — validation, JSON.stringify,
 *   the AWS SDK's marshaller — would otherwise overflow the stack on 100k-deep input). V8's JSON.parse
 *   does not recurse, so the depth is measured on the parsed value, which has far fewer nodes than the
 *   text has characters (a scan of the text was a fifth of the webhook's whole work). Every caller has
 *   authenticated the request before parsing, so a huge deep body costs only an authenticated caller;
 * - objects have no prototype (whenever the text names anything Object.prototype has), so a key or a
 *   looked-up value such as `constructor` or `toString` is only ever data;
 * - a `__proto__` key is dropped: as data it is harmless here, but the AWS SDK cannot write it to
 *   DynamoDB, so a message carrying one would never be delivered. Its siblings are kept.
 */
export const MAX_JSON_DEPTH = 64;

export class JsonInputError extends Error {
  override readonly name = "JsonInputError";
}

/**
 * A name Object.prototype answers to must appear in the text for a key or a looked-up value to reach it;
 * text without any is parsed plainly (the reviver costs more than the parse itself on the webhook path).
 * Such a name can also be spelled with escapes of ASCII letters or `_` (`\u005f_proto__`), which
 * encoders do not otherwise write (non-ASCII text escapes to `\u0080` and above), so those count too.
 */
const PROTOTYPE_NAMES =
  /__proto__|constructor|prototype|toString|toLocaleString|valueOf|hasOwnProperty|isPrototypeOf|propertyIsEnumerable|__define|__lookup|\\u00[4-7][0-9a-fA-F]/;

export function parseUntrustedJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new JsonInputError("not JSON");
  }
  if (deeperThan(value, maxDepth)) throw new JsonInputError(`JSON nested deeper than ${maxDepth} levels`);
  // Parsed again only for the rare text that names a prototype member, now known to be shallow.
  return PROTOTYPE_NAMES.test(text) ? JSON.parse(text, withoutPrototypes) : value;
}

function withoutPrototypes(key: string, value: unknown): unknown {
  if (key === "__proto__") return undefined;
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  return Object.assign(Object.create(null), value);
}

/** Whether arrays and objects nest deeper than `max` (a top-level `[]` is 1), walked without recursion. */
function deeperThan(root: unknown, max: number): boolean {
  const pending: object[] = [];
  const depths: number[] = [];
  const visit = (value: unknown, depth: number) => {
    if (value !== null && typeof value === "object") {
      pending.push(value);
      depths.push(depth);
    }
  };
  visit(root, 1);
  while (pending.length > 0) {
    const value = pending.pop() as object;
    const depth = depths.pop() as number;
    if (depth > max) return true;
    if (Array.isArray(value)) {
      for (const item of value) visit(item, depth + 1);
    } else {
      for (const key in value) visit((value as Record<string, unknown>)[key], depth + 1);
    }
  }
  return false;
}
