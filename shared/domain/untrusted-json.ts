/**
 * JSON from outside (webhooks, admin bodies) parsed so that nothing in it can reach code it should not:
 * - nesting deeper than `maxDepth` is refused before parsing (recursive code further on — validation,
 *   JSON.stringify, the AWS SDK's marshaller — would otherwise overflow the stack on 100k-deep input);
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
 */
const PROTOTYPE_NAMES =
  /__proto__|constructor|prototype|toString|toLocaleString|valueOf|hasOwnProperty|isPrototypeOf|propertyIsEnumerable|__define|__lookup/;

export function parseUntrustedJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (nestingDepth(text) > maxDepth) throw new JsonInputError(`JSON nested deeper than ${maxDepth} levels`);
  try {
    return PROTOTYPE_NAMES.test(text) ? JSON.parse(text, withoutPrototypes) : JSON.parse(text);
  } catch {
    throw new JsonInputError("not JSON");
  }
}

function withoutPrototypes(key: string, value: unknown): unknown {
  if (key === "__proto__") return undefined;
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  return Object.assign(Object.create(null), value);
}

/** The deepest `[`/`{` nesting outside strings; stops counting once it is clearly too deep. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}
