/**
 * Template shortcodes: how an operator sends a WhatsApp template from a Bitrix24 chat or CRM SMS by typing
 * text (seed: `template-hello_world+en_US`; SMS provider: `hello_world+en_US`).
 *
 * Grammar (after the operator signature and all BBCode are removed — operators format text and Bitrix24
 * wraps pasted links in `[url]`, none of which belongs to the values):
 *
 *   shortcode := ("template-" | "template+") NAME "+" LANG [ "+" segments ]     chat and SMS
 *              | NAME "+" LANG [ "+" segments ]                                 SMS provider only (bare)
 *   segments  := segment ( "|" segment )*
 *   segment   := "file_link:" URL          media of an IMAGE / VIDEO / DOCUMENT header
 *              | "button_param:" VALUE     the `{{1}}` of the template's dynamic URL button
 *              | name ":" VALUE            named variable, name = [a-z_][a-z0-9_]* right before the colon
 *              | VALUE                     positional variable, in order
 *
 * - Only the `+` after NAME and the one after LANG separate; values may contain `+` and `:`.
 * - Escapes inside segments: `\|` is a literal bar, `\:` a colon that does not make a named variable
 *   (`Order\: 5`), `\\` a backslash; any other backslash is kept as typed.
 * - A value starting with `//` after the colon (`https://…`) is positional, not a variable named `https`.
 * - The keyword is case-insensitive and NAME is lowercased, because phones capitalise the first letter and
 *   Meta's names are lowercase anyway. LANG is normalised to Meta's spelling (`EN_us` → `en_US`).
 * - With the keyword, NAME and LANG are read leniently (anything up to `+` or whitespace) so that a typo
 *   reaches `findTemplate` and the operator is told what exists, instead of the text going to the customer.
 *   The bare form is strict (`[a-z0-9_]+` and a language code) because any SMS text could look like it.
 * - Header text variables: a TEXT header may hold one variable. In a positional template it is the first
 *   positional value, before the body's `{{1}}` (it is also first on screen); in a named template it is
 *   supplied like any named variable, and a name used in both header and body takes one value.
 * - Values a shortcode cannot carry make the template refused with a clear problem rather than sent half
 *   filled: LOCATION headers, COPY_CODE / CATALOG / MPM buttons, other components (limited-time offer,
 *   carousel), and a second URL button with a variable (`button_param` fills one).
 */
import { bbcodeToPlainText, splitOperatorPrefix } from "./bbcode.ts";

export interface ParsedShortcode {
  /** `keyword` = `template-…`/`template+…`; `bare` = `NAME+LANG` (SMS provider only). */
  form: "keyword" | "bare";
  name: string;
  language: string;
  positional: string[];
  named: Record<string, string>;
  fileLink?: string;
  buttonParam?: string;
  /** Keys given more than once (named variables, `file_link`, `button_param`); validation refuses them. */
  repeated: string[];
}

/** One item of `GET /{waba-id}/message_templates` → `data[]` (meta-whatsapp.md §7.4). */
export interface MetaTemplate {
  name: string;
  language: string;
  status: string;
  category?: string;
  id?: string;
  parameter_format?: string;
  components?: MetaTemplateComponent[];
}

export interface MetaTemplateComponent {
  type: string;
  format?: string;
  text?: string;
  example?: unknown;
  buttons?: MetaTemplateButton[];
}

export interface MetaTemplateButton {
  type: string;
  text?: string;
  url?: string;
  phone_number?: string;
  example?: unknown;
}

export interface GraphTextParameter {
  type: "text";
  parameter_name?: string;
  text: string;
}

export type GraphMediaParameter =
  | { type: "image"; image: { link: string } }
  | { type: "video"; video: { link: string } }
  | { type: "document"; document: { link: string; filename?: string } };

export type GraphTemplateComponent =
  | { type: "header"; parameters: (GraphTextParameter | GraphMediaParameter)[] }
  | { type: "body"; parameters: GraphTextParameter[] }
  | { type: "button"; sub_type: "url"; index: string; parameters: GraphTextParameter[] };

/** The `template` object of a `type: "template"` send (meta-whatsapp.md §4). */
export interface GraphTemplatePayload {
  name: string;
  language: { code: string };
  /** Omitted when the template has nothing to fill. */
  components?: GraphTemplateComponent[];
}

export type BuildResult =
  | { ok: true; template: GraphTemplatePayload }
  | { ok: false; problem: string; expectedForm: string };

export type FindResult = { ok: true; template: MetaTemplate } | { ok: false; problem: string };

const KEYWORD_FORM = /^template[-+]([^+\s]+)\+([^+\s]+)(?:\+([\s\S]*))?$/i;
const BARE_FORM = /^([a-z0-9_]+)\+([a-z]{2,3}(?:_(?:[a-z]{2}|\d{3}))?)(?:\+([\s\S]*))?$/i;

/** Returns undefined for a text that is not a shortcode: it is then an ordinary message. */
export function parseShortcode(text: string, opts: { bare: boolean }): ParsedShortcode | undefined {
  const plain = bbcodeToPlainText(splitOperatorPrefix(text).body).trim();
  let form: ParsedShortcode["form"] = "keyword";
  let match = KEYWORD_FORM.exec(plain);
  if (!match && opts.bare) {
    form = "bare";
    match = BARE_FORM.exec(plain);
  }
  if (!match) return undefined;
  const [, name = "", language = "", rest = ""] = match;
  return { form, name: name.toLowerCase(), language: normalizeLanguage(language), ...parseSegments(rest) };
}

/** Meta spells languages `en`, `en_US`, `es_419`: lowercase language, uppercase two-letter region. */
export function normalizeLanguage(code: string): string {
  const [lang = "", ...region] = code.split("_");
  return [lang.toLowerCase(), ...region.map((r) => (/^[a-z]{2}$/i.test(r) ? r.toUpperCase() : r))].join("_");
}

type Segments = Pick<ParsedShortcode, "positional" | "named" | "fileLink" | "buttonParam" | "repeated">;

const NAMED = /^([a-z_][a-z0-9_]*):(?!\/\/)/;

function parseSegments(rest: string): Segments {
  const out: Segments = { positional: [], named: {}, repeated: [] };
  if (!rest.trim()) return out;
  const named = new Map<string, string>();
  const seen = new Set<string>();
  const once = (key: string) => {
    if (seen.has(key) && !out.repeated.includes(key)) out.repeated.push(key);
    seen.add(key);
  };
  for (const raw of splitUnescaped(rest)) {
    const segment = raw.trim();
    const reserved = /^(file_link|button_param)\s*:/i.exec(segment);
    if (reserved) {
      const key = (reserved[1] as string).toLowerCase();
      const value = unescapeValue(segment.slice(reserved[0].length)).trim();
      once(key);
      if (key === "file_link") out.fileLink = value;
      else out.buttonParam = value;
      continue;
    }
    const variable = NAMED.exec(segment);
    if (variable) {
      const key = variable[1] as string;
      once(key);
      named.set(key, unescapeValue(segment.slice(variable[0].length)).trim());
      continue;
    }
    out.positional.push(unescapeValue(segment));
  }
  // fromEntries defines own properties, so a variable named `__proto__` stays an ordinary key.
  out.named = Object.fromEntries(named);
  return out;
}

/** Splits on `|` not preceded by an escaping backslash; escapes stay in place for `unescapeValue`. */
function splitUnescaped(text: string): string[] {
  const segments: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === "\\" && i + 1 < text.length) {
      current += ch + text[i + 1];
      i++;
    } else if (ch === "|") {
      segments.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  segments.push(current);
  return segments;
}

function unescapeValue(text: string): string {
  return text.replace(/\\([\\|:])/g, "$1");
}

// ---------------------------------------------------------------------------------------------------------

interface TemplateShape {
  named: boolean;
  /** Variables of a TEXT header: `["1"]`, `["first_name"]` or none. */
  headerVars: string[];
  /** Distinct body variables: positional ones in numeric order, named ones in order of appearance. */
  bodyVars: string[];
  mediaKind?: "image" | "video" | "document";
  /** Index among BUTTONS of each URL button whose URL has a variable. */
  dynamicButtons: number[];
  unsupported: string[];
}

const PLACEHOLDER = /\{\{\s*([a-z0-9_]+)\s*\}\}/gi;
const MEDIA_FORMATS = { IMAGE: "image", VIDEO: "video", DOCUMENT: "document" } as const;
const SUPPORTED_COMPONENTS = new Set(["HEADER", "BODY", "FOOTER", "BUTTONS"]);
/** Buttons that need a value at send time which the shortcode has no way to carry. */
const UNSUPPORTED_BUTTONS = new Set(["COPY_CODE", "CATALOG", "MPM"]);

function placeholders(text: string | undefined): string[] {
  return [...new Set([...(text ?? "").matchAll(PLACEHOLDER)].map((m) => m[1] as string))];
}

function mediaKindOf(format: string | undefined): TemplateShape["mediaKind"] {
  return format !== undefined && Object.hasOwn(MEDIA_FORMATS, format)
    ? MEDIA_FORMATS[format as keyof typeof MEDIA_FORMATS]
    : undefined;
}

function shapeOf(template: MetaTemplate): TemplateShape {
  const components = template.components ?? [];
  const find = (type: string) => components.find((c) => c.type.toUpperCase() === type);
  const header = find("HEADER");
  const format = header?.format?.toUpperCase() ?? (header ? "TEXT" : undefined);
  const headerVars = format === "TEXT" ? placeholders(header?.text).slice(0, 1) : [];
  const bodyVars = placeholders(find("BODY")?.text);
  const declared = template.parameter_format?.toUpperCase();
  const named =
    declared === "NAMED" ||
    (declared === undefined && [...headerVars, ...bodyVars].some((v) => !/^\d+$/.test(v)));
  if (!named) bodyVars.sort((a, b) => Number(a) - Number(b));

  const unsupported: string[] = [];
  for (const c of components) {
    if (!SUPPORTED_COMPONENTS.has(c.type.toUpperCase())) unsupported.push(`a ${c.type} component`);
  }
  const mediaKind = mediaKindOf(format);
  if (format !== undefined && format !== "TEXT" && !mediaKind) {
    unsupported.push(`a ${format} header`);
  }
  const dynamicButtons: number[] = [];
  (find("BUTTONS")?.buttons ?? []).forEach((button, index) => {
    const type = button.type.toUpperCase();
    if (UNSUPPORTED_BUTTONS.has(type)) unsupported.push(`a ${type} button`);
    // Authentication templates are created with an OTP button that Meta lists back as a URL button; both
    // take the code as the URL button parameter when sending.
    if (type === "OTP" || (type === "URL" && placeholders(button.url).length > 0)) dynamicButtons.push(index);
  });
  if (dynamicButtons.length > 1) unsupported.push(`${dynamicButtons.length} URL buttons with variables`);
  return { named, headerVars, bodyVars, mediaKind, dynamicButtons, unsupported };
}

/** The shortcode that would send `template`, with `<placeholders>` for what the operator fills in. */
export function shortcodeFor(template: MetaTemplate, form: ParsedShortcode["form"] = "keyword"): string {
  const shape = shapeOf(template);
  const segments: string[] = [];
  if (shape.named) {
    for (const name of new Set([...shape.headerVars, ...shape.bodyVars])) segments.push(`${name}:<${name}>`);
  } else {
    if (shape.headerVars.length > 0) segments.push("<header>");
    for (const n of shape.bodyVars) segments.push(`<${n}>`);
  }
  if (shape.mediaKind) segments.push(`file_link:<${shape.mediaKind} URL>`);
  if (shape.dynamicButtons.length > 0) segments.push("button_param:<value>");
  const head = `${form === "keyword" ? "template-" : ""}${template.name}+${template.language}`;
  return segments.length > 0 ? `${head}+${segments.join("|")}` : head;
}

/** What an operator fills in to send `template`: the picker's form fields. */
export interface TemplateInputs {
  /** Named templates take `name:value`; positional ones take values in order (the header's first). */
  readonly named: boolean;
  /** One field per variable, in the order the shortcode carries them; `header` marks a header variable. */
  readonly variables: readonly { key: string; header: boolean }[];
  readonly mediaKind?: "image" | "video" | "document";
  readonly buttonParam: boolean;
  /** Parts a shortcode cannot carry: such a template cannot be sent from the chat. */
  readonly unsupported: readonly string[];
}

export function templateInputs(template: MetaTemplate): TemplateInputs {
  const shape = shapeOf(template);
  const keys = shape.named
    ? [...new Set([...shape.headerVars, ...shape.bodyVars])]
    : [...shape.headerVars.map(() => "header"), ...shape.bodyVars];
  return {
    named: shape.named,
    variables: keys.map((key, i) => ({
      key,
      header: shape.named ? shape.headerVars.includes(key) : i < shape.headerVars.length,
    })),
    ...(shape.mediaKind ? { mediaKind: shape.mediaKind } : {}),
    buttonParam: shape.dynamicButtons.length > 0,
    unsupported: shape.unsupported,
  };
}

/** A value inside a segment: the grammar's escapes, so a `|` or `:` the operator typed stays text. */
const escapeValue = (value: string) => value.replace(/[\\|:]/g, (c) => `\\${c}`);

/**
 * The shortcode that sends `template` with these values — what an operator would type, so the picker's
 * send goes through the same parsing and checks as typed text. Values are keyed as `templateInputs` names
 * them; a missing one is left empty for the checks to report.
 */
export function fillShortcode(
  template: MetaTemplate,
  values: { variables: Record<string, string>; fileLink?: string; buttonParam?: string },
): string {
  const inputs = templateInputs(template);
  const segments = inputs.variables.map(({ key }, i) => {
    const value = escapeValue(values.variables[inputs.named ? key : `${i}`] ?? "");
    return inputs.named ? `${key}:${value}` : value;
  });
  if (inputs.mediaKind) segments.push(`file_link:${values.fileLink ?? ""}`);
  if (inputs.buttonParam) segments.push(`button_param:${escapeValue(values.buttonParam ?? "")}`);
  const head = `template-${template.name}+${template.language}`;
  return segments.length > 0 ? `${head}+${segments.join("|")}` : head;
}

/**
 * Checks the operator's values against the template before anything reaches Meta — Meta's own refusals
 * (132000 wrong parameter count, 132012 parameter format) speak API, not shortcode — then builds the Graph
 * `template` object. All problems are reported at once, with the shortcode that would work.
 */
export function buildTemplateMessage(parsed: ParsedShortcode, template: MetaTemplate): BuildResult {
  const shape = shapeOf(template);
  const problems: string[] = [];
  if (template.status !== "APPROVED") problems.push(`its status is ${template.status}, not APPROVED`);
  if (shape.unsupported.length > 0) {
    problems.push(`it has ${shape.unsupported.join(", ")}, which a shortcode cannot fill`);
  }
  for (const key of parsed.repeated) problems.push(`${key} is given more than once`);

  const values = shape.named
    ? namedValues(parsed, shape, problems)
    : positionalValues(parsed, shape, problems);
  checkMedia(parsed, shape, problems);
  checkButton(parsed, shape, problems);

  if (problems.length > 0) {
    return {
      ok: false,
      problem: `Template ${template.name} (${template.language}): ${problems.join("; ")}.`,
      expectedForm: shortcodeFor(template, parsed.form),
    };
  }
  const components = buildComponents(parsed, shape, values);
  return {
    ok: true,
    template: {
      name: template.name,
      language: { code: template.language },
      ...(components.length > 0 ? { components } : {}),
    },
  };
}

interface Values {
  header: GraphTextParameter[];
  body: GraphTextParameter[];
}

function namedValues(parsed: ParsedShortcode, shape: TemplateShape, problems: string[]): Values {
  const required = [...new Set([...shape.headerVars, ...shape.bodyVars])];
  const given = Object.keys(parsed.named);
  if (parsed.positional.length > 0) {
    problems.push(
      `it takes named variables (name:value), but ${wereGiven(count(parsed.positional.length, "unnamed value"), parsed.positional.length)}`,
    );
  }
  const missing = required.filter((name) => !Object.hasOwn(parsed.named, name));
  if (missing.length > 0) problems.push(`missing ${missing.join(", ")}`);
  const extra = given.filter((name) => !required.includes(name));
  if (extra.length > 0) problems.push(`it has no variable ${extra.join(", ")}`);
  for (const name of required) {
    if (Object.hasOwn(parsed.named, name)) checkText(name, parsed.named[name] as string, problems);
  }
  const param = (name: string): GraphTextParameter => ({
    type: "text",
    parameter_name: name,
    text: parsed.named[name] ?? "",
  });
  return { header: shape.headerVars.map(param), body: shape.bodyVars.map(param) };
}

function positionalValues(parsed: ParsedShortcode, shape: TemplateShape, problems: string[]): Values {
  const given = Object.keys(parsed.named);
  if (given.length > 0) {
    problems.push(`it takes values by position, not by name (${given.join(", ")}); write a colon as \\:`);
  }
  const expected = shape.headerVars.length + shape.bodyVars.length;
  if (parsed.positional.length !== expected) {
    const parts = [
      ...(shape.headerVars.length > 0 ? ["1 for the header"] : []),
      ...(shape.bodyVars.length > 0 ? [`${shape.bodyVars.length} for the body`] : []),
    ];
    const detail = parts.length > 1 ? ` (${parts.join(" + ")})` : "";
    problems.push(
      `it expects ${count(expected, "value")}${detail}, but ${wereGiven(String(parsed.positional.length), parsed.positional.length)}`,
    );
  }
  parsed.positional.forEach((value, i) => {
    checkText(`value ${i + 1}`, value, problems);
  });
  const text = (value: string | undefined): GraphTextParameter => ({ type: "text", text: value ?? "" });
  const offset = shape.headerVars.length;
  return {
    header: shape.headerVars.map((_, i) => text(parsed.positional[i])),
    body: shape.bodyVars.map((_, i) => text(parsed.positional[offset + i])),
  };
}

/** Meta refuses variable text with line breaks, tabs or more than four spaces in a row. */
function checkText(label: string, value: string, problems: string[]): void {
  if (!value) problems.push(`${label} is empty`);
  else if (/[\n\r\t]| {5}/.test(value)) {
    problems.push(`${label} contains a line break, a tab or more than 4 spaces in a row`);
  }
}

function checkMedia(parsed: ParsedShortcode, shape: TemplateShape, problems: string[]): void {
  if (!shape.mediaKind) {
    if (parsed.fileLink !== undefined) problems.push("it has no media header, so file_link is not used");
    return;
  }
  if (parsed.fileLink === undefined) problems.push(`its ${shape.mediaKind} header needs file_link:<URL>`);
  else if (!isHttpsUrl(parsed.fileLink)) problems.push(`file_link "${parsed.fileLink}" is not an https URL`);
}

function checkButton(parsed: ParsedShortcode, shape: TemplateShape, problems: string[]): void {
  if (shape.dynamicButtons.length === 0) {
    if (parsed.buttonParam !== undefined)
      problems.push("it has no URL button with a variable, so button_param is not used");
    return;
  }
  if (parsed.buttonParam === undefined) problems.push("its URL button needs button_param:<value>");
  else checkText("button_param", parsed.buttonParam, problems);
}

/** HTTPS only: a media link over plain HTTP can be read or swapped on its way to Meta. */
function isHttpsUrl(text: string): boolean {
  return URL.canParse(text) && new URL(text).protocol === "https:";
}

function buildComponents(
  parsed: ParsedShortcode,
  shape: TemplateShape,
  values: Values,
): GraphTemplateComponent[] {
  const components: GraphTemplateComponent[] = [];
  if (shape.mediaKind && parsed.fileLink !== undefined) {
    components.push({ type: "header", parameters: [mediaParameter(shape.mediaKind, parsed.fileLink)] });
  } else if (values.header.length > 0) {
    components.push({ type: "header", parameters: values.header });
  }
  if (values.body.length > 0) components.push({ type: "body", parameters: values.body });
  const [index] = shape.dynamicButtons;
  if (index !== undefined && parsed.buttonParam !== undefined) {
    components.push({
      type: "button",
      sub_type: "url",
      index: String(index),
      parameters: [{ type: "text", text: parsed.buttonParam }],
    });
  }
  return components;
}

/** The kind comes from the template's header format, never from the URL (links rarely say what they serve). */
function mediaParameter(kind: "image" | "video" | "document", link: string): GraphMediaParameter {
  if (kind === "image") return { type: "image", image: { link } };
  if (kind === "video") return { type: "video", video: { link } };
  // WhatsApp shows a document's file name; the last path segment is the best guess a link offers.
  const filename = decodeSafely(new URL(link).pathname.split("/").pop() as string);
  return { type: "document", document: filename.includes(".") ? { link, filename } : { link } };
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** "1 was given", "0 were given": the problem reads as a sentence. */
function wereGiven(what: string, n: number): string {
  return `${what} ${n === 1 ? "was" : "were"} given`;
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Picks the template the operator named from the WABA's synced list, or says what went wrong in terms the
 * operator can act on: similar names, the languages that do exist, or the status that blocks sending.
 */
export function findTemplate(templates: MetaTemplate[], name: string, language: string): FindResult {
  const wanted = name.toLowerCase();
  const sameName = templates.filter((t) => t.name.toLowerCase() === wanted);
  if (sameName.length === 0) {
    if (templates.length === 0) {
      return {
        ok: false,
        problem: `No template "${name}": no templates are known for this WhatsApp account`,
      };
    }
    const similar = similarNames(
      wanted,
      templates.map((t) => t.name),
    );
    const hint = similar.length > 0 ? `; similar: ${similar.join(", ")}` : "";
    return { ok: false, problem: `No template "${name}"${hint}` };
  }
  const lang = normalizeLanguage(language);
  const match = sameName.find((t) => normalizeLanguage(t.language) === lang);
  if (!match) {
    const approved = sameName.filter((t) => t.status === "APPROVED").map((t) => t.language);
    const hint =
      approved.length > 0 ? `approved languages: ${approved.join(", ")}` : "it has no approved language";
    return {
      ok: false,
      problem: `Template "${(sameName[0] as MetaTemplate).name}" has no "${language}" version; ${hint}`,
    };
  }
  if (match.status !== "APPROVED") {
    return {
      ok: false,
      problem: `Template "${match.name}" (${match.language}) is ${match.status}; only APPROVED templates can be sent`,
    };
  }
  return { ok: true, template: match };
}

function similarNames(wanted: string, names: string[]): string[] {
  const scored = [...new Set(names)]
    .map((name) => ({ name, distance: editDistance(wanted, name.toLowerCase()) }))
    .filter(
      ({ name, distance }) =>
        distance <= Math.max(2, Math.floor(wanted.length / 3)) ||
        name.toLowerCase().includes(wanted) ||
        wanted.includes(name.toLowerCase()),
    );
  scored.sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name));
  return scored.slice(0, 3).map((s) => s.name);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
