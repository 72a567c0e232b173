import { describe, expect, it } from "vitest";
import {
  bbcodeToPlainText,
  bbcodeToWhatsApp,
  decodeEntities,
  formatOperatorText,
  splitForWhatsApp,
  splitOperatorPrefix,
} from "#shared/domain/bbcode.ts";
import { fixtureJson } from "../../fixtures.ts";

interface MessageAddEvent {
  data: { MESSAGES: { message: { text: string } }[] };
}

const documentedText = fixtureJson<MessageAddEvent>("bitrix/event_onimconnectormessageadd_text.json").data
  .MESSAGES[0]?.message.text as string;

describe("splitOperatorPrefix", () => {
  it("takes the signature off the documented OnImConnectorMessageAdd text", () => {
    expect(documentedText).toBe("[b]Klaus Weber:[/b] [br]Guten Tag!");
    expect(splitOperatorPrefix(documentedText)).toEqual({ operator: "Klaus Weber", body: "Guten Tag!" });
  });

  it.each([
    ["older server code: [br] then a space", "[b]Klaus Weber:[/b][br] Hallo", "Klaus Weber", "Hallo"],
    ["newline instead of [br]", "[b]Anna:[/b]\nHi", "Anna", "Hi"],
    ["CRLF", "[b]Anna:[/b]\r\nHi", "Anna", "Hi"],
    ["upper-case tags", "[B]Anna:[/B] [BR]Hi", "Anna", "Hi"],
    ["file-only message: the signature alone", "[b]Klaus Weber:[/b]", "Klaus Weber", ""],
    ["signature then spaces only", "[b]Klaus Weber:[/b]  ", "Klaus Weber", ""],
    ["leading whitespace", "  [b]Anna:[/b] [br]Hi", "Anna", "Hi"],
    ["entities in the name", "[b]Seán O&#39;Brien:[/b] [br]Hi", "Seán O'Brien", "Hi"],
    ["colon inside the name", "[b]Support: Anna:[/b] [br]Hi", "Support: Anna", "Hi"],
    ["body keeps its own BBCode", "[b]Anna:[/b] [br][i]x[/i][br]y", "Anna", "[i]x[/i][br]y"],
  ])("recognises the signature: %s", (_case, text, operator, body) => {
    expect(splitOperatorPrefix(text)).toEqual({ operator, body });
  });

  it.each([
    ["no signature", "Guten Tag!"],
    [
      "bold label followed by text on the same line (the operator's own formatting)",
      "[b]Note:[/b] read this",
    ],
    ["no colon", "[b]Klaus Weber[/b] [br]Hi"],
    ["empty name", "[b] :[/b] [br]Hi"],
    ["name across lines", "[b]Kla\nus:[/b] [br]Hi"],
    ["bracket in the name", "[b]A[i]b:[/b] [br]Hi"],
    ["not at the start", "Hi [b]Anna:[/b] [br]there"],
    ["empty text", ""],
  ])("leaves text without a signature alone: %s", (_case, text) => {
    expect(splitOperatorPrefix(text)).toEqual({ body: text });
  });
});

describe("bbcodeToWhatsApp", () => {
  it.each([
    // emphasis
    ["bold", "[b]bold[/b]", "*bold*"],
    ["italic", "[i]it[/i]", "_it_"],
    ["strike [s]", "[s]gone[/s]", "~gone~"],
    ["strike [del]", "[del]gone[/del]", "~gone~"],
    ["strike [strike]", "[strike]gone[/strike]", "~gone~"],
    ["underline has no WhatsApp equivalent: text kept", "[u]under[/u]", "under"],
    ["tags are case-insensitive", "[B]x[/B] [I]y[/i]", "*x* _y_"],
    ["spaces moved outside the markers", "a[b] x [/b]b", "a *x* b"],
    ["the brief's example", "[b] x [/b]", " *x* "],
    ["empty emphasis drops its markers", "a[b] [/b]b", "a b"],
    ["emphasis per line, WhatsApp markers do not span lines", "[b]one[br]two[/b]", "*one*\n*two*"],
    ["blank line inside emphasis stays blank", "[i]a[br][br]b[/i]", "_a_\n\n_b_"],
    ["nested different markers", "[b]bold [i]both[/i][/b]", "*bold _both_*"],
    ["nested same marker is not doubled", "[b]a [b]inner[/b] b[/b]", "*a inner b*"],
    ["strike variants nest as one marker", "[s]a [del]b[/del][/s]", "~a b~"],
    // line breaks
    ["[br] is a newline", "one[br]two[BR]three", "one\ntwo\nthree"],
    ["real newlines stay", "one\ntwo", "one\ntwo"],
    // links
    ["url with text", "[url=https://bitrix24.com]the website[/url]", "the website (https://bitrix24.com)"],
    [
      "url with text equal to the address",
      "[url=https://a.example]https://a.example[/url]",
      "https://a.example",
    ],
    ["url text without scheme and slash", "[url=https://a.example/]A.example[/url]", "https://a.example/"],
    ["url without attribute", "[url]https://a.example/x[/url]", "https://a.example/x"],
    ["url with empty text", "[url=https://a.example][/url]", "https://a.example"],
    ["url with quoted attribute", '[url="https://a.example"]site[/url]', "site (https://a.example)"],
    [
      "url attribute with entities",
      "[url=https://a.example/?a=1&amp;b=2]q[/url]",
      "q (https://a.example/?a=1&b=2)",
    ],
    ["url with formatted text", "[url=https://a.example][b]site[/b][/url]", "*site* (https://a.example)"],
    [
      "url with formatted address as text",
      "[url=https://a.example][b]https://a.example[/b][/url]",
      "https://a.example",
    ],
    ["url with empty attribute uses the text", "[url=]https://a.example[/url]", "https://a.example"],
    ["call link", "[call=+19991234567]Call us[/call]", "Call us (+19991234567)"],
    ["call without attribute", "[call]+19991234567[/call]", "+19991234567"],
    ["call whose text is the number", "[call=tel:+1999]+1999[/call]", "tel:+1999"],
    // media and mentions
    ["img keeps the address", "[img]https://a.example/p.jpg[/img]", "https://a.example/p.jpg"],
    [
      "img with size and the required space",
      "[img size=medium]https://a.example/p.jpg [/img]",
      "https://a.example/p.jpg",
    ],
    ["user mention", "[user=5]Anna Schmidt[/user]", "Anna Schmidt"],
    ["user all", "[USER=all]Everyone[/USER]", "Everyone"],
    ["chat mention", "[chat=imol|789]Line[/chat]", "Line"],
    ["context link", "[context=chat123/456]that message[/context]", "that message"],
    ["send command", "[send=/help]Help[/send]", "Help"],
    ["put command", "[put=/search]Search[/put]", "Search"],
    ["icon with title", "[icon=https://a.example/i.png size=30 title=Big smile]", "Big smile"],
    [
      "icon with title then more attributes",
      "[icon=https://a.example/i.png title=Unicorn size=30]",
      "Unicorn",
    ],
    ["icon without title", "[icon=https://a.example/i.png size=30]", ""],
    ["icon without attributes", "[icon]", ""],
    ["timestamp in UTC", "[timestamp=1645844720 format=SHORT_TIME_FORMAT]", "2022-02-26 03:05 UTC"],
    ["timestamp without a number", "[timestamp=soon]", "[timestamp=soon]"],
    ["timestamp without attribute", "[timestamp]", "[timestamp]"],
    ["timestamp out of range", "[timestamp=99999999999999999]", "[timestamp=99999999999999999]"],
    ["disk reference", "see [disk=123]", "see "],
    // presentation-only tags
    ["color", "[color=#ff0000]red[/color]", "red"],
    ["size", "[size=20]big[/size]", "big"],
    ["font", "[font=Arial]text[/font]", "text"],
    ["alignment", "[left]l[/left] [center]c[/center] [right]r[/right] [justify]j[/justify]", "l c r j"],
    // code
    ["code block", "[code]x = 1[/code]", "```x = 1```"],
    ["code is verbatim", "[code]a [b]not bold[/b] [foo][/code]", "```a [b]not bold[/b] [foo]```"],
    ["code line breaks", "[code][br]one[br]two[br][/code]", "```one\ntwo```"],
    ["code entities decoded", "[code]a &lt; b[/code]", "```a < b```"],
    ["code gets its own lines", "see[code]x[/code]done", "see\n```x```\ndone"],
    ["empty code block", "a[code] [/code]b", "ab"],
    ["code without closing tag stays literal", "[code]x", "[code]x"],
    ["code inside bold is not wrapped", "[b][code]x[/code][/b]", "```x```"],
    [
      "quote-like lines inside code are untouched",
      "[code]>>x[br]----------[br]y[br]----------[/code]",
      "```>>x\n----------\ny\n----------```",
    ],
    // quotes
    ["quote", "[quote]one[br]two[/quote]", "> one\n> two"],
    ["quote gets its own lines", "before[quote]q[/quote]after", "before\n> q\nafter"],
    ["space after a block is dropped", "[quote]q[/quote] after", "> q\nafter"],
    ["trailing space before a block is dropped", "before [quote]q[/quote]", "before\n> q"],
    ["newline after a block is not doubled", "[quote]q[/quote][br]after", "> q\nafter"],
    ["blank line inside quote", "[quote]a[br][br]b[/quote]", "> a\n>\n> b"],
    ["quote trims surrounding blank lines", "[quote][br]a[br][/quote]", "> a"],
    ["empty quote vanishes", "a[quote] [/quote]b", "ab"],
    ["quote with author attribute", "[quote=Anna]hi[/quote]", "> hi"],
    ["bold inside quote", "[quote][b]x[/b][/quote]", "> *x*"],
    ["quote inside bold keeps the quote prefix outside", "[b]a[quote]q[/quote][/b]", "*a*\n> *q*"],
    ["Bitrix >> line quotes", ">>first[br]>>second[br]answer", "> first\n> second\nanswer"],
    ["Bitrix >> with a space", ">> first", "> first"],
    [
      "imconnector dashed quote block",
      "------------------------------------------------------\nKlaus [01.01.2025]\nhello\n------------------------------------------------------\nreply",
      "> Klaus [01.01.2025]\n> hello\nreply",
    ],
    ["dashed block with [br]", "----------[br]q[br]----------[br]a", "> q\na"],
    ["empty dashed block vanishes", "----------\n\n----------\na", "a"],
    ["a lone dashed line stays", "a\n----------\nb", "a\n----------\nb"],
    ["short dashes are not a quote", "---\nx\n---", "---\nx\n---"],
    // lists
    ["list", "[list][*]a[*]b[/list]", "• a\n• b"],
    ["numbered list", "[list=1][*]a[*]b[/list]", "1. a\n2. b"],
    ["list items trimmed, empty ones skipped", "[list]\n[*] a \n[*]  [*]c\n[/list]", "• a\n• c"],
    ["list with text before the first item", "[list]Items:[*]a[/list]", "Items:\n• a"],
    ["list between text", "intro [list=1][*]a[*]c[/list] end", "intro\n1. a\n2. c\nend"],
    ["list with formatted items", "[list][*][b]a[/b][/list]", "• *a*"],
    ["list with a non-numeric attribute is bulleted", "[list=a][*]x[/list]", "• x"],
    ["empty list vanishes", "a[list][/list]b", "ab"],
    ["[*] outside a list is text", "a [*] b", "a [*] b"],
    // entities
    ["named entities", "&quot;q&quot; &amp; &lt;x&gt; &#39;s&apos; a&nbsp;b", "\"q\" & <x> 's' a b"],
    ["numeric entities", "&#128512; &#x1F600; &#X41;", "😀 😀 A"],
    [
      "unknown or invalid entities stay",
      "&bogus; &#0; &#xD800; &#1114112;",
      "&bogus; &#0; &#xD800; &#1114112;",
    ],
    ["entities do not create tags", "&#91;b&#93;x&#91;/b&#93;", "[b]x[/b]"],
    // robustness
    ["unknown tags stay as text", "[foo]x[/foo] [p]y[/p] [table]", "[foo]x[/foo] [p]y[/p] [table]"],
    ["unclosed tag stays literal", "[b]unclosed", "[b]unclosed"],
    ["stray closing tag stays literal", "a[/b] b", "a[/b] b"],
    ["closing tag with attribute stays literal", "[b]x[/b=1]", "[b]x[/b=1]"],
    ["closing void tag stays literal", "a[/br]b", "a[/br]b"],
    ["overlapping tags: the inner unclosed one stays literal", "[b]a[i]b[/b]c[/i]", "*a[i]b*c[/i]"],
    ["two unclosed tags", "[b][i]x", "[b][i]x"],
    ["unclosed tag inside a closed one", "[i]a [b]b[/i]", "_a [b]b_"],
    ["brackets that are not tags", "[1] [x y] [] [ ] a[b", "[1] [x y] [] [ ] a[b"],
    ["tag with space attribute", "[b ]x[/b]", "*x*"],
    ["private-use characters cannot fake a code placeholder", "\uE0000\uE001", "0"],
    ["plain text passes through", "Guten Tag! 1 * 2 _ 3 ~", "Guten Tag! 1 * 2 _ 3 ~"],
    ["empty", "", ""],
  ])("%s", (_case, input, expected) => {
    expect(bbcodeToWhatsApp(input)).toBe(expected);
  });

  it("keeps tags nested deeper than 32 levels as text", () => {
    const input = `${"[b]".repeat(40)}x${"[/b]".repeat(40)}`;
    expect(bbcodeToWhatsApp(input)).toBe(`*${"[b]".repeat(8)}x*${"[/b]".repeat(8)}`);
  });

  it("leaves every [code] without a closing tag literal", () => {
    expect(bbcodeToWhatsApp("[code]x[/code][code]y[code]z")).toBe("```x```\n[code]y[code]z");
  });

  it("handles very deep nesting and many unclosed tags without recursion limits", () => {
    const deep = `${"[u]".repeat(100_000)}x${"[/u]".repeat(100_000)}`;
    expect(bbcodeToWhatsApp(deep)).toContain("x");
    expect(bbcodeToWhatsApp("[b]".repeat(100_000))).toBe("[b]".repeat(100_000));
    expect(bbcodeToPlainText("[code]".repeat(20_000))).toBe("[code]".repeat(20_000));
  });

  it("never throws on deeply nested or hostile input", () => {
    const nested = `${"[b][i][s][quote][list][*]".repeat(200)}x${"[/list][/quote][/s][/i][/b]".repeat(200)}`;
    expect(() => bbcodeToWhatsApp(nested)).not.toThrow();
    expect(() =>
      bbcodeToWhatsApp("[/b][/i][b][i][/b][code][/code][/code][*][list=][url=]".repeat(100)),
    ).not.toThrow();
  });
});

describe("bbcodeToPlainText", () => {
  it.each([
    ["formatting removed", "[b]bold[/b] [i]it[/i] [s]x[/s] [u]u[/u]", "bold it x u"],
    ["link keeps its text", "[url=https://a.example]site[/url]", "site"],
    ["link without text keeps the address", "[url=https://a.example][/url]", "https://a.example"],
    ["url tag", "[url]https://a.example/p.jpg[/url]", "https://a.example/p.jpg"],
    ["code content kept verbatim", "[code]a|b [b]x[/b][/code]", "a|b [b]x[/b]"],
    ["quote content kept without prefix", "[quote]q[/quote]", "q"],
    ["line breaks", "a[br]b", "a\nb"],
    ["entities", "a &amp; b", "a & b"],
    [">> is not converted", ">>x", ">>x"],
    ["list", "[list][*]a[*]b[/list]", "• a\n• b"],
    ["unknown tag stays", "[foo]", "[foo]"],
  ])("%s", (_case, input, expected) => {
    expect(bbcodeToPlainText(input)).toBe(expected);
  });
});

describe("formatOperatorText", () => {
  it("keeps the operator's name as a bold first line (documented fixture)", () => {
    expect(formatOperatorText(documentedText)).toBe("*Klaus Weber:*\nGuten Tag!");
  });

  it.each([
    ["body is converted", "[b]Anna:[/b] [br][i]Hallo[/i][br]Wie geht's?", "*Anna:*\n_Hallo_\nWie geht's?"],
    ["signature only (files follow separately)", "[b]Anna:[/b]", "*Anna:*"],
    ["blank body after conversion", "[b]Anna:[/b] [br][disk=1]", "*Anna:*"],
    ["line without signatures: no prefix", "Guten Tag!", "Guten Tag!"],
    [
      "line without signatures, formatted",
      "[b]Wichtig:[/b] morgen geschlossen",
      "*Wichtig:* morgen geschlossen",
    ],
  ])("%s", (_case, input, expected) => {
    expect(formatOperatorText(input)).toBe(expected);
  });
});

describe("decodeEntities", () => {
  it("is exported for other Bitrix24 text", () => {
    expect(decodeEntities("Tom &amp; Jerry &#39;s")).toBe("Tom & Jerry 's");
  });
});

describe("splitForWhatsApp", () => {
  it.each([
    ["short text is one part, untouched", "  hello  ", 10, ["  hello  "]],
    ["exactly max is one part", "abcdefghij", 10, ["abcdefghij"]],
    ["empty text: nothing to send", "", 10, []],
    ["blank text: nothing to send", " \n\t ", 10, []],
    ["paragraph boundary first", "aaaa bbbb\n\ncccc dddd eeee", 10, ["aaaa bbbb", "cccc dddd", "eeee"]],
    ["paragraph with spaces on the blank line", "aaaaaa\n  \nbbbbbb", 10, ["aaaaaa", "bbbbbb"]],
    ["line boundary when no paragraph fits", "aaaa bb\ncc dd ee", 10, ["aaaa bb", "cc dd ee"]],
    ["word boundary when no line fits", "aaaa bbbb cccc", 10, ["aaaa bbbb", "cccc"]],
    ["separator exactly at max", "aaaaaaaaaa bbb", 10, ["aaaaaaaaaa", "bbb"]],
    [
      "hard cut for a word longer than max",
      "abcdefghijklmnopqrstuvwxyz",
      10,
      ["abcdefghij", "klmnopqrst", "uvwxyz"],
    ],
    ["a late word boundary beats an early paragraph", "ab\n\ncdefgh ijklmn", 10, ["ab\n\ncdefgh", "ijklmn"]],
    ["an early boundary beats a hard cut", "ab cdefghijklmnop", 10, ["ab", "cdefghijkl", "mnop"]],
    [
      "non-breaking spaces are not boundaries",
      "aaaa\u00A0bbbb\u00A0cccc dd",
      15,
      ["aaaa\u00A0bbbb\u00A0cccc", "dd"],
    ],
    ["no empty parts from runs of separators", "aaaaaaaaa\n\n\n\n\n\n\n\n\nbbb", 10, ["aaaaaaaaa", "bbb"]],
    ["leading whitespace before a long word", "          abcdefghijkl", 10, ["abcdefghij", "kl"]],
  ])("%s", (_case, text, max, expected) => {
    expect(splitForWhatsApp(text, max)).toEqual(expected);
  });

  it.each([
    ["skin-tone emoji (surrogate pairs + modifier)", "👍🏽👍🏽👍🏽", 5, ["👍🏽", "👍🏽", "👍🏽"]],
    ["flags (regional indicator pairs)", "🇩🇪🇫🇷🇮🇹", 5, ["🇩🇪", "🇫🇷", "🇮🇹"]],
    ["ZWJ family stays whole", "👨‍👩‍👧x👨‍👩‍👧", 9, ["👨‍👩‍👧x", "👨‍👩‍👧"]],
    ["combining accents stay on their letter", "e\u0301e\u0301e\u0301", 3, ["e\u0301", "e\u0301", "e\u0301"]],
  ])("never cuts inside a grapheme: %s", (_case, text, max, expected) => {
    const parts = splitForWhatsApp(text, max);
    expect(parts).toEqual(expected);
    expect(parts.join("")).toBe(text);
  });

  it("cuts between code points when one grapheme is longer than max", () => {
    const zalgo = `a${"\u0301".repeat(12)}`;
    expect(splitForWhatsApp(zalgo, 5).every((p) => p.length <= 5)).toBe(true);
    const family = "👨‍👩‍👧‍👦"; // 11 code units, one grapheme
    const parts = splitForWhatsApp(family, 4);
    expect(parts.join("")).toBe(family);
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(4);
      expect(part).not.toMatch(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/);
    }
  });

  it("splits a surrogate pair only when max is 1 and nothing else is possible", () => {
    expect(splitForWhatsApp("😀", 1)).toEqual(["\uD83D", "\uDE00"]);
  });

  it("uses WhatsApp's 4096 limit by default and keeps all words", () => {
    const paragraph = Array.from({ length: 120 }, (_, i) => `word${i}`).join(" ");
    const text = Array.from({ length: 12 }, () => paragraph).join("\n\n");
    const parts = splitForWhatsApp(text);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(4096);
      expect(part).toBe(part.trim());
      expect(part.startsWith(paragraph.slice(0, 10))).toBe(true);
    }
    expect(parts.join("\n\n")).toBe(text);
  });

  it.each([0, -1, 1.5, Number.NaN])("rejects max = %s", (max) => {
    expect(() => splitForWhatsApp("abc", max)).toThrow(RangeError);
  });
});
