/**
 * Bitrix24 Open Lines hands operator text over as BBCode (bitrix24.md §3; tag set: Bitrix24 "Text Formatting
 * (BB Codes)" for im/imbot messages). WhatsApp has its own lightweight markup, so the text is converted, not
 * stripped: an operator's bold stays bold for the customer.
 *
 * Parsing is tolerant by design: operators type brackets freely, so anything unknown or unbalanced stays in
 * the output literally instead of throwing or silently vanishing.
 */

export interface OperatorPrefix {
  operator?: string;
  body: string;
}

/**
 * Bitrix24 signs messages of a line with signatures on as `[b]Name:[/b] [br]text` (current server code) or
 * `[b]Name:[/b][br] text` (older), and a file-only message as bare `[b]Name:[/b]`. Without the line break
 * right after the bold name it is the operator's own formatting, not a signature.
 */
const SIGNATURE = /^\s*\[b\]([^[\]\n]+?):\[\/b\][ \t]*(?:\[br\]|\r?\n|$)[ \t]*/i;

export function splitOperatorPrefix(text: string): OperatorPrefix {
  const match = SIGNATURE.exec(text);
  const operator = match ? decodeEntities(match[1] as string).trim() : "";
  if (!match || !operator) return { body: text };
  return { operator, body: text.slice(match[0].length) };
}

/**
 * The customer sees who answers: the signature becomes a bold first line. A line registered without
 * signatures sends no prefix, so whether names show is the admin's choice in Bitrix24.
 */
export function formatOperatorText(text: string): string {
  const { operator, body } = splitOperatorPrefix(text);
  const converted = bbcodeToWhatsApp(body);
  if (operator === undefined) return converted;
  const name = `*${operator}:*`;
  return converted.trim() ? `${name}\n${converted}` : name;
}

export function bbcodeToWhatsApp(bbcode: string): string {
  const codeBlocks: string[] = [];
  // Code blocks are parked behind private-use placeholders so that the line-based passes below (quotes)
  // never touch their content.
  const rendered = renderNodes(parse(bbcode.replace(/[\uE000\uE001]/g, "")), {
    mode: "whatsapp",
    active: new Set(),
    codeBlocks,
  });
  return convertLineQuotes(rendered).replace(
    /\uE000(\d+)\uE001/g,
    (_, index: string) => codeBlocks[Number(index)] as string,
  );
}

/**
 * Plain text with every known tag removed (links keep their text), for reading machine-like input such as
 * template shortcodes that operators may have formatted or that Bitrix24 wrapped in `[url]`.
 */
export function bbcodeToPlainText(bbcode: string): string {
  return renderNodes(parse(bbcode), { mode: "plain", active: new Set(), codeBlocks: [] });
}

/**
 * WhatsApp counts message length in characters; splitting on UTF-16 code units (what `.length` counts) is
 * the conservative reading, because a code-unit count is never smaller than a character count.
 * Prefers paragraph, then line, then word boundaries, and never cuts inside a grapheme (emoji with
 * modifiers, flags, combining marks) unless a single grapheme is longer than `max` itself.
 */
export function splitForWhatsApp(text: string, max = 4096): string[] {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`);
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const cut = chooseCut(rest, max);
    const part = rest.slice(0, cut.end).trimEnd();
    if (part) parts.push(part);
    rest = rest.slice(cut.resume).trimStart();
  }
  if (rest.trim()) parts.push(rest);
  return parts;
}

interface Cut {
  end: number;
  resume: number;
}

const BOUNDARIES = [/\n[ \t]*\n/g, /\n/g, /[^\S\u00A0\u202F]/g];

function chooseCut(text: string, max: number): Cut {
  // A separator may start exactly at `max`: the part before it still fits.
  const window = text.slice(0, max + 1);
  let fallback: Cut | undefined;
  for (const boundary of BOUNDARIES) {
    const found = lastSeparator(window, boundary);
    if (!found) continue;
    // A boundary in the first half would leave many tiny parts; a weaker boundary nearer the limit is better.
    if (found.end >= max / 2) return found;
    if (!fallback || found.end > fallback.end) fallback = found;
  }
  if (fallback) return fallback;
  const end = lastGraphemeBoundary(window, max);
  return { end, resume: end };
}

function lastSeparator(window: string, boundary: RegExp): Cut | undefined {
  let found: Cut | undefined;
  for (const match of window.matchAll(boundary)) {
    // A separator at the very start would make an empty part.
    if (match.index > 0) found = { end: match.index, resume: match.index + match[0].length };
  }
  return found;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

function lastGraphemeBoundary(window: string, max: number): number {
  let end = 0;
  // Grapheme boundaries depend only on what precedes them and the character right after, so segmenting
  // the window (max + 1 long, hence no segment starts beyond max) is exact for every start it reports.
  for (const { index } of graphemes.segment(window)) end = index;
  if (end > 0) return end;
  // One grapheme longer than the limit: cut between code points at least, never inside a surrogate pair.
  const high = window.charCodeAt(max - 1);
  return high >= 0xd800 && high <= 0xdbff && max > 1 ? max - 1 : max;
}

// ---------------------------------------------------------------------------------------------------------
// Parser: a forgiving tree builder. Known container tags nest; a closing tag closes the nearest open tag of
// the same name, and whatever was left open inside it (or at the end) is turned back into literal text.

type Mode = "whatsapp" | "plain";

interface TextNode {
  kind: "text";
  text: string;
}

interface TagNode {
  kind: "tag";
  name: string;
  attr: string | undefined;
  raw: string;
  children: BBNode[];
}

interface CodeNode {
  kind: "code";
  content: string;
}

interface VoidNode {
  kind: "void";
  name: string;
  attr: string | undefined;
  raw: string;
}

type BBNode = TextNode | TagNode | CodeNode | VoidNode;

const CONTAINERS = new Set([
  "b",
  "i",
  "u",
  "s",
  "del",
  "strike",
  "quote",
  "url",
  "img",
  "user",
  "chat",
  "context",
  "send",
  "put",
  "call",
  "color",
  "size",
  "font",
  "left",
  "center",
  "right",
  "justify",
  "list",
]);

const VOIDS = new Set(["br", "*", "icon", "timestamp", "disk"]);

const TAG = /\[(\/)?([a-z]+|\*)((?:=|\s)[^[\]]*)?\]/gi;

/**
 * Real messages nest a handful of tags; a cap keeps rendering recursion and the cost of unwinding unclosed
 * tags bounded whatever an operator (or a paste) throws at it. Deeper tags stay literal text.
 */
const MAX_DEPTH = 32;

function parse(source: string): BBNode[] {
  const root: TagNode = { kind: "tag", name: "", attr: undefined, raw: "", children: [] };
  const stack: TagNode[] = [root];
  const top = () => stack[stack.length - 1] as TagNode;
  const pushText = (text: string) => {
    if (text) top().children.push({ kind: "text", text });
  };
  const abandon = () => {
    // An unclosed tag is the last child of its parent (everything after it went inside it).
    const node = stack.pop() as TagNode;
    top().children.splice(-1, 1, { kind: "text", text: node.raw }, ...node.children);
  };

  const lower = source.toLowerCase();
  let codeClosable = true;
  let cursor = 0;
  TAG.lastIndex = 0;
  for (let match = TAG.exec(source); match; match = TAG.exec(source)) {
    const [raw, closing, rawName = "", rawAttr] = match;
    const name = rawName.toLowerCase();
    pushText(source.slice(cursor, match.index));
    cursor = match.index + raw.length;
    const attr = rawAttr === undefined ? undefined : rawAttr.replace(/^=/, "").trim();
    if (closing) {
      const depth = stack.findLastIndex((node, i) => i > 0 && node.name === name);
      if (depth < 0 || attr !== undefined) {
        pushText(raw);
        continue;
      }
      while (stack.length - 1 > depth) abandon();
      stack.pop();
    } else if (name === "code") {
      // Code is verbatim: tags inside it are the operator's content, not formatting.
      const close = codeClosable ? lower.indexOf("[/code]", cursor) : -1;
      if (close < 0) {
        // No closing tag further on, so no later [code] can close either: skip the search next time.
        codeClosable = false;
        pushText(raw);
        continue;
      }
      top().children.push({ kind: "code", content: source.slice(cursor, close) });
      cursor = close + "[/code]".length;
      TAG.lastIndex = cursor;
    } else if (VOIDS.has(name)) {
      top().children.push({ kind: "void", name, attr, raw });
    } else if (CONTAINERS.has(name) && stack.length <= MAX_DEPTH) {
      const node: TagNode = { kind: "tag", name, attr, raw, children: [] };
      top().children.push(node);
      stack.push(node);
    } else {
      pushText(raw);
    }
  }
  pushText(source.slice(cursor));
  while (stack.length > 1) abandon();
  return root.children;
}

// ---------------------------------------------------------------------------------------------------------
// Renderer

interface Context {
  mode: Mode;
  /** Emphasis markers already open around this node: WhatsApp cannot nest the same marker. */
  active: Set<string>;
  codeBlocks: string[];
}

interface Piece {
  text: string;
  block: boolean;
}

const MARKERS: Record<string, string> = { b: "*", i: "_", s: "~", del: "~", strike: "~" };

function renderNodes(nodes: BBNode[], ctx: Context): string {
  return joinPieces(nodes.map((node) => renderNode(node, ctx)));
}

/** Block pieces (quotes, lists, code) get lines of their own, as Bitrix24 displays them. */
function joinPieces(pieces: Piece[]): string {
  let out = "";
  let afterBlock = false;
  for (const piece of pieces) {
    if (piece.block) {
      if (!piece.text) continue;
      out = trimTrailingSpaces(out);
      if (out && !out.endsWith("\n")) out += "\n";
      out += piece.text;
      afterBlock = true;
      continue;
    }
    let text = piece.text;
    if (afterBlock) {
      text = text.replace(/^[ \t]+/, "");
      if (!text) continue;
      if (!text.startsWith("\n")) out += "\n";
    }
    out += text;
    afterBlock = false;
  }
  return out;
}

/** Not a regex: `/[ \t]+$/` rescans the whole growing output for every block. */
function trimTrailingSpaces(text: string): string {
  let end = text.length;
  while (end > 0 && (text[end - 1] === " " || text[end - 1] === "\t")) end--;
  return end === text.length ? text : text.slice(0, end);
}

const inline = (text: string): Piece => ({ text, block: false });
const block = (text: string): Piece => ({ text, block: true });

function renderNode(node: BBNode, ctx: Context): Piece {
  switch (node.kind) {
    case "text":
      return inline(decodeEntities(node.text));
    case "code":
      return renderCode(node, ctx);
    case "void":
      return inline(renderVoid(node));
    case "tag":
      return renderTag(node, ctx);
  }
}

function renderCode(node: CodeNode, ctx: Context): Piece {
  const content = trimBlankLines(decodeEntities(node.content.replace(/\[br\]/gi, "\n")));
  if (ctx.mode === "plain") return inline(content);
  if (!content.trim()) return inline("");
  ctx.codeBlocks.push(`\`\`\`${content}\`\`\``);
  return block(`\uE000${ctx.codeBlocks.length - 1}\uE001`);
}

function renderVoid(node: VoidNode): string {
  switch (node.name) {
    case "br":
      return "\n";
    case "icon":
      // Icons are inline pictures; their title is the only part that means anything as text.
      return decodeEntities(/\btitle=(.*?)(?=\s+[a-z]+=|$)/i.exec(node.attr ?? "")?.[1] ?? "");
    case "timestamp":
      return renderTimestamp(node);
    case "disk":
      // A Bitrix24.Drive reference the customer could not open anyway.
      return "";
    default:
      // `[*]` outside a list.
      return node.raw;
  }
}

/** The customer's time zone is unknown, so the instant is spelled out in UTC. */
function renderTimestamp(node: VoidNode): string {
  const seconds = Number(/^\d+/.exec(node.attr ?? "")?.[0]);
  const date = new Date(seconds * 1000);
  if (!Number.isFinite(date.getTime())) return node.raw;
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function renderTag(node: TagNode, ctx: Context): Piece {
  const marker = MARKERS[node.name];
  if (marker !== undefined) return inline(renderEmphasis(node, ctx, marker));
  switch (node.name) {
    case "quote":
      return renderQuote(node, ctx);
    case "list":
      return renderList(node, ctx);
    case "url":
    case "call":
      return inline(renderLink(node, ctx));
    case "img":
      return inline(renderNodes(node.children, ctx).trim());
    default:
      // u, user, chat, context, send, put, color, size, font, alignment: the text is what matters.
      return inline(renderNodes(node.children, ctx));
  }
}

const CODE_PLACEHOLDER = /^\uE000\d+\uE001$/;

function renderEmphasis(node: TagNode, ctx: Context, marker: string): string {
  if (ctx.mode === "plain" || ctx.active.has(marker)) return renderNodes(node.children, ctx);
  const inner = renderNodes(node.children, { ...ctx, active: new Set([...ctx.active, marker]) });
  // WhatsApp markers must touch the text (`*bold*`, not `* bold *`) and do not span lines.
  return inner
    .split("\n")
    .map((line) => {
      const lead = (/^\s*(?:> )*/.exec(line) as RegExpExecArray)[0];
      const core = line.slice(lead.length).trimEnd();
      const trail = line.slice(lead.length + core.length);
      // A code block stays as it is: WhatsApp shows no emphasis around monospace blocks.
      return core && !CODE_PLACEHOLDER.test(core) ? `${lead}${marker}${core}${marker}${trail}` : line;
    })
    .join("\n");
}

function renderQuote(node: TagNode, ctx: Context): Piece {
  const inner = trimBlankLines(renderNodes(node.children, ctx));
  if (ctx.mode === "plain") return inline(inner);
  if (!inner.trim()) return block("");
  return block(quoteLines(inner.split("\n")));
}

/** Drops blank lines at both ends (written out: the obvious regexes backtrack quadratically on long runs). */
function trimBlankLines(text: string): string {
  const lines = text.split("\n");
  let start = 0;
  let end = lines.length;
  while (start < end && !(lines[start] as string).trim()) start++;
  while (end > start && !(lines[end - 1] as string).trim()) end--;
  return lines.slice(start, end).join("\n");
}

function quoteLines(lines: string[]): string {
  return lines.map((line) => (line.trim() ? `> ${line}` : ">")).join("\n");
}

function renderList(node: TagNode, ctx: Context): Piece {
  const groups: BBNode[][] = [[]];
  for (const child of node.children) {
    if (child.kind === "void" && child.name === "*") groups.push([]);
    else (groups[groups.length - 1] as BBNode[]).push(child);
  }
  const [lead = [], ...items] = groups;
  const numbered = node.attr !== undefined && /^\d+$/.test(node.attr);
  const lines: string[] = [];
  const intro = renderNodes(lead, ctx).trim();
  if (intro) lines.push(intro);
  let n = 0;
  for (const item of items) {
    const text = renderNodes(item, ctx).trim();
    if (!text) continue;
    n += 1;
    lines.push(`${numbered ? `${n}.` : "•"} ${text}`);
  }
  return block(lines.join("\n"));
}

/** `[url=X]T[/url]` → `T (X)`, or just `X` when the text is the address itself (scheme and slash aside). */
function renderLink(node: TagNode, ctx: Context): string {
  const text = renderNodes(node.children, ctx).trim();
  const target = decodeEntities((node.attr ?? "").replace(/^(["'])(.*)\1$/, "$2")).trim();
  if (!target) return text;
  if (ctx.mode === "plain") return text || target;
  const plain = renderNodes(node.children, { ...ctx, mode: "plain" }).trim();
  if (!plain || sameAddress(plain, target)) return target;
  return `${text} (${target})`;
}

function sameAddress(a: string, b: string): boolean {
  const bare = (s: string) =>
    s
      .toLowerCase()
      .replace(/^(?:https?:\/\/|tel:)/, "")
      .replace(/\/$/, "");
  return bare(a) === bare(b);
}

/**
 * Bitrix24's own quote syntaxes survive as plain text in the BBCode: `>>line`, and a quoted message framed
 * by two lines of dashes (imconnector's reply/forward format). Both become WhatsApp `> ` quotes.
 */
function convertLineQuotes(text: string): string {
  const lines = text.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (DASHES.test(line)) {
      let end = i + 1;
      while (end < lines.length && !DASHES.test(lines[end] as string)) end++;
      if (end < lines.length) {
        const quoted = lines.slice(i + 1, end);
        if (quoted.some((q) => q.trim())) out.push(quoteLines(quoted));
        i = end;
        continue;
      }
    }
    out.push(line.replace(/^>>\s?/, "> "));
  }
  return out.join("\n");
}

const DASHES = /^\s*-{10,}\s*$/;

const ENTITIES: Record<string, string> = {
  quot: '"',
  amp: "&",
  lt: "<",
  gt: ">",
  apos: "'",
  nbsp: " ",
};

/** Bitrix24 HTML-escapes some characters in message text; WhatsApp shows text as typed. */
export function decodeEntities(text: string): string {
  return text.replace(/&(?:#(\d{1,7})|#x([0-9a-f]{1,6})|([a-z]+));/gi, (entity, dec, hex, name) => {
    if (name !== undefined) return ENTITIES[name.toLowerCase()] ?? entity;
    const code = dec !== undefined ? Number(dec) : Number.parseInt(hex, 16);
    return code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff)
      ? String.fromCodePoint(code)
      : entity;
  });
}
