import { describe, expect, it } from "vitest";
import {
  buildTemplateMessage,
  findTemplate,
  type GraphTemplatePayload,
  type MetaTemplate,
  normalizeLanguage,
  type ParsedShortcode,
  parseShortcode,
  shortcodeFor,
} from "#shared/domain/template-shortcode.ts";
import { fixtureJson } from "../../fixtures.ts";

const listed = fixtureJson<{ data: MetaTemplate[] }>("meta/message_templates_list_response.json").data;
const helloWorld = listed[0] as MetaTemplate;
const aprilPromo = listed[1] as MetaTemplate;

const sent = (name: string) => fixtureJson<{ template: GraphTemplatePayload }>(`meta/${name}.json`).template;

function shortcode(overrides: Partial<ParsedShortcode>): ParsedShortcode {
  return {
    form: "keyword",
    name: "x",
    language: "en_US",
    positional: [],
    named: {},
    repeated: [],
    ...overrides,
  };
}

function template(overrides: Partial<MetaTemplate>): MetaTemplate {
  return {
    name: "t",
    language: "en_US",
    status: "APPROVED",
    category: "UTILITY",
    components: [],
    ...overrides,
  };
}

const chat = { bare: false };
const sms = { bare: true };

describe("parseShortcode", () => {
  it.each<[string, string, Partial<ParsedShortcode>]>([
    ["seed form", "template-hello_world+en_US", { name: "hello_world", language: "en_US" }],
    ["plus form", "template+hello_world+en_US", { name: "hello_world", language: "en_US" }],
    [
      "after the operator signature (documented event text)",
      "[b]Klaus Weber:[/b] [br]template-hello_world+en_US",
      { name: "hello_world", language: "en_US" },
    ],
    ["BBCode formatting is ignored", "[b]template-hello_world[/b]+[i]en_US[/i]", { name: "hello_world" }],
    [
      "surrounding whitespace and line breaks",
      "  template-hello_world+en_US [br]\n",
      { name: "hello_world" },
    ],
    ["keyword and name case (phones capitalise)", "Template-Hello_World+EN_us", { name: "hello_world" }],
    ["TEMPLATE+ upper case", "TEMPLATE+HELLO_WORLD+en_US", { name: "hello_world" }],
    ["language without region", "template-hello_world+EN", { language: "en" }],
    ["Brazilian Portuguese", "template-hello_world+pt_br", { language: "pt_BR" }],
    ["Latin-American Spanish (numeric region)", "template-hello_world+es_419", { language: "es_419" }],
    ["Chinese", "template-hello_world+zh_CN", { language: "zh_CN" }],
    [
      "lenient name and language with the keyword, so findTemplate can explain",
      "template-hello-world+english",
      { name: "hello-world", language: "english" },
    ],
    ["digits in the name", "template-2023_april_promo+en_US", { name: "2023_april_promo" }],
    [
      "positional variables",
      "template-2023_april_promo+en_US+Mark|FALL25",
      { name: "2023_april_promo", positional: ["Mark", "FALL25"] },
    ],
    [
      "whitespace around segments trimmed",
      "template-hello_world+en_US+ Mark | FALL 25 ",
      { positional: ["Mark", "FALL 25"] },
    ],
    ["empty positional values kept", "template-hello_world+en_US+a||b|", { positional: ["a", "", "b", ""] }],
    ["a single empty value after the separator is none", "template-hello_world+en_US+", {}],
    ["only spaces after the separator", "template-hello_world+en_US+   ", {}],
    [
      "values may contain + and :",
      "template-hello_world+en_US+1+1=2|10:30|a+b:c",
      { positional: ["1+1=2", "10:30", "a+b:c"] },
    ],
    [
      "a URL is positional, not a variable named https",
      "template-hello_world+en_US+https://a.example/x",
      {
        positional: ["https://a.example/x"],
      },
    ],
    [
      "Upper-case word before a colon is positional",
      "template-hello_world+en_US+Order: 5",
      { positional: ["Order: 5"] },
    ],
    [
      "space before the colon is positional",
      "template-hello_world+en_US+order : 5",
      { positional: ["order : 5"] },
    ],
    ["escaped colon is positional", "template-hello_world+en_US+order\\: 5", { positional: ["order: 5"] }],
    ["escaped bar", "template-hello_world+en_US+a\\|b|c", { positional: ["a|b", "c"] }],
    ["escaped backslash before a bar", "template-hello_world+en_US+a\\\\|b", { positional: ["a\\", "b"] }],
    [
      "other backslashes kept",
      "template-hello_world+en_US+C:\\temp\\new|\\d",
      { positional: ["C:\\temp\\new", "\\d"] },
    ],
    ["trailing lone backslash kept", "template-hello_world+en_US+a\\", { positional: ["a\\"] }],
    ["entities decoded", "template-hello_world+en_US+Tom &amp; Jerry", { positional: ["Tom & Jerry"] }],
    [
      "line break inside a value is kept for validation",
      "template-hello_world+en_US+a[br]b",
      { positional: ["a\nb"] },
    ],
    [
      "named variables",
      "template-hello_world+en_US+first_name:John|order_id: 42 |time:7:30 pm",
      { named: { first_name: "John", order_id: "42", time: "7:30 pm" } },
    ],
    ["named variable with escaped bar", "template-hello_world+en_US+note:a\\|b", { named: { note: "a|b" } }],
    ["empty named value kept", "template-hello_world+en_US+first_name:", { named: { first_name: "" } }],
    [
      "file link",
      "template-hello_world+en_US+file_link:https://a.example/p.jpg",
      { fileLink: "https://a.example/p.jpg" },
    ],
    [
      "file link wrapped by Bitrix24 in [url]",
      "template-hello_world+en_US+file_link:[url]https://a.example/p.jpg[/url]",
      { fileLink: "https://a.example/p.jpg" },
    ],
    [
      "file link as [url=X]X[/url]",
      "template-hello_world+en_US+file_link:[url=https://a.example/p.jpg]https://a.example/p.jpg[/url]",
      { fileLink: "https://a.example/p.jpg" },
    ],
    ["button parameter", "template-hello_world+en_US+button_param:ORDER-42", { buttonParam: "ORDER-42" }],
    [
      "reserved keys are case-insensitive and may have spaces",
      "template-hello_world+en_US+File_Link : https://a.example/p.jpg|BUTTON_PARAM: abc",
      { fileLink: "https://a.example/p.jpg", buttonParam: "abc" },
    ],
    [
      "everything together",
      "template-order_update+en_US+Anna|42|file_link:https://a.example/p.jpg|button_param:42",
      {
        name: "order_update",
        positional: ["Anna", "42"],
        fileLink: "https://a.example/p.jpg",
        buttonParam: "42",
      },
    ],
    [
      "repeated keys are recorded once each; the last value is kept",
      "template-hello_world+en_US+a:1|a:2|file_link:u|file_link:v|button_param:1|button_param:2|a:3",
      { named: { a: "3" }, fileLink: "v", buttonParam: "2", repeated: ["a", "file_link", "button_param"] },
    ],
  ])("%s", (_case, text, expected) => {
    const result = parseShortcode(text, chat);
    expect(result).toEqual(shortcode({ name: "hello_world", language: "en_US", ...expected }));
  });

  it("keeps a variable named __proto__ as an ordinary key", () => {
    const result = parseShortcode("template-x+en_US+__proto__:x", chat);
    expect(Object.hasOwn(result?.named ?? {}, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(result?.named)).toBe(Object.prototype);
  });

  it.each<[string, Partial<ParsedShortcode>]>([
    ["hello_world+en_US", { name: "hello_world", language: "en_US" }],
    [
      "Hello_World+EN_us+Mark|FALL25",
      { name: "hello_world", language: "en_US", positional: ["Mark", "FALL25"] },
    ],
    ["promo+es_419", { name: "promo", language: "es_419" }],
    ["  hello_world+en  ", { name: "hello_world", language: "en" }],
  ])("SMS provider: bare form %j", (text, expected) => {
    expect(parseShortcode(text, sms)).toEqual(shortcode({ form: "bare", ...expected }));
  });

  it("SMS provider: the keyword form works too", () => {
    expect(parseShortcode("template-hello_world+en_US", sms)).toEqual(
      shortcode({ name: "hello_world", language: "en_US" }),
    );
  });

  it.each([
    ["bare form in the chat", "hello_world+en_US", chat],
    ["ordinary text", "Guten Tag!", chat],
    ["empty", "", chat],
    ["keyword alone", "template", chat],
    ["keyword and name only", "template-hello_world", chat],
    ["missing language", "template-hello_world+", chat],
    ["text after the language", "template-hello_world+en_US please", chat],
    ["not at the start", "see template-hello_world+en_US", chat],
    ["other keyword", "templates-hello_world+en_US", chat],
    ["space in the name", "template-hello world+en_US", chat],
    ["ordinary SMS text", "Your order has shipped", sms],
    ["arithmetic in an SMS", "1+1=2", sms],
    ["bare name with spaces", "hello world+en", sms],
    ["bare with a word for a language", "hi+english", sms],
    ["bare without language", "hello_world", sms],
    ["bare with an invalid region", "hello_world+en_USA", sms],
    ["bare with text after the language", "hello_world+en thanks", sms],
  ])("not a shortcode: %s", (_case, text, opts) => {
    expect(parseShortcode(text, opts)).toBeUndefined();
  });
});

describe("normalizeLanguage", () => {
  it.each([
    ["en", "en"],
    ["EN", "en"],
    ["en_us", "en_US"],
    ["EN_us", "en_US"],
    ["es_419", "es_419"],
    ["zh_hk", "zh_HK"],
    ["english", "english"],
    ["", ""],
  ])("%j → %j", (input, expected) => {
    expect(normalizeLanguage(input)).toBe(expected);
  });
});

// Templates as GET /{waba-id}/message_templates lists them, shaped after the documented send examples.
const reservation = template({
  name: "reservation_confirmation",
  parameter_format: "NAMED",
  components: [
    { type: "HEADER", format: "IMAGE", example: { header_handle: ["4::aW1h"] } },
    {
      type: "BODY",
      text: "Your table for {{number_of_guests}} is booked for {{day}}, {{date}}, at {{time}}.",
    },
    { type: "FOOTER", text: "Reply STOP to opt out" },
  ],
});

const verificationCode = template({
  name: "verification_code",
  category: "AUTHENTICATION",
  components: [
    { type: "BODY", text: "*{{1}}* is your verification code." },
    {
      type: "BUTTONS",
      buttons: [
        {
          type: "URL",
          text: "Copy code",
          url: "https://www.whatsapp.com/otp/code/?otp_type=COPY_CODE&code=otp{{1}}",
        },
      ],
    },
  ],
});

const caribbeanOffer = template({
  name: "caribbean_offer",
  category: "MARKETING",
  components: [
    { type: "HEADER", format: "IMAGE" },
    { type: "BODY", text: "Hi {{1}}, use code {{2}} for your Caribbean trip!" },
    {
      type: "BUTTONS",
      buttons: [
        { type: "QUICK_REPLY", text: "Stop promotions" },
        { type: "URL", text: "Book!", url: "https://awesomedestinations.example/offers?ref={{1}}" },
      ],
    },
  ],
});

const orderStatus = template({
  name: "order_status",
  components: [
    { type: "HEADER", format: "TEXT", text: "Order {{1}}" },
    { type: "BODY", text: "Hi {{1}}, your total is {{2}}." },
  ],
});

const namedGreeting = template({
  name: "named_greeting",
  parameter_format: "NAMED",
  components: [
    { type: "HEADER", format: "TEXT", text: "Hello {{first_name}}" },
    { type: "BODY", text: "Dear {{first_name}}, order {{order_id}} ships on {{date}}." },
  ],
});

const LINK = "https://cdn.example/p.jpg";

describe("buildTemplateMessage", () => {
  it("sends the documented named-parameter template with an image header (by link)", () => {
    const parsed = parseShortcode(
      `template-reservation_confirmation+en_US+number_of_guests:4|day:Saturday|date:August 30th, 2025|time:7:30 pm|file_link:${LINK}`,
      chat,
    ) as ParsedShortcode;
    const expected = structuredClone(sent("send_template_utility_image_header_named_params"));
    expected.components?.splice(0, 1, {
      type: "header",
      parameters: [{ type: "image", image: { link: LINK } }],
    });
    expect(buildTemplateMessage(parsed, reservation)).toEqual({ ok: true, template: expected });
  });

  it("sends the documented authentication template (body code + URL button code)", () => {
    const parsed = parseShortcode("template-verification_code+en_US+J$FpnYnP|button_param:J$FpnYnP", chat);
    expect(buildTemplateMessage(parsed as ParsedShortcode, verificationCode)).toEqual({
      ok: true,
      template: sent("send_template_auth_url_button"),
    });
  });

  it("fills the documented image header, positional body and URL button (button index from BUTTONS)", () => {
    const parsed = parseShortcode(
      `template-caribbean_offer+en_US+Pablo|CARIBE25|file_link:${LINK}|button_param:n3mtql`,
      chat,
    );
    const documented = sent("send_template_lto_image_header_copycode_url_button").components ?? [];
    const result = buildTemplateMessage(parsed as ParsedShortcode, caribbeanOffer);
    expect(result).toEqual({
      ok: true,
      template: {
        name: "caribbean_offer",
        language: { code: "en_US" },
        components: [
          { type: "header", parameters: [{ type: "image", image: { link: LINK } }] },
          documented[1],
          // Meta documents `index` both as 1 and "0"; we always send a string.
          { ...documented[4], index: "1" },
        ],
      },
    });
  });

  it.each<[string, MetaTemplate, string, GraphTemplatePayload]>([
    [
      "template without variables (hello_world from the documented list)",
      helloWorld,
      "template-hello_world+en_US",
      { name: "hello_world", language: { code: "en_US" } },
    ],
    [
      "positional body (2023_april_promo from the documented list)",
      aprilPromo,
      "template-2023_april_promo+en_US+Mark|FALL25",
      {
        name: "2023_april_promo",
        language: { code: "en_US" },
        components: [
          {
            type: "body",
            parameters: [
              { type: "text", text: "Mark" },
              { type: "text", text: "FALL25" },
            ],
          },
        ],
      },
    ],
    [
      "header text variable comes first among positional values",
      orderStatus,
      "template-order_status+en_US+#42|Anna|12 €",
      {
        name: "order_status",
        language: { code: "en_US" },
        components: [
          { type: "header", parameters: [{ type: "text", text: "#42" }] },
          {
            type: "body",
            parameters: [
              { type: "text", text: "Anna" },
              { type: "text", text: "12 €" },
            ],
          },
        ],
      },
    ],
    [
      "named header and body share a name",
      namedGreeting,
      "template-named_greeting+en_US+date:May 1|first_name:Anna|order_id:42",
      {
        name: "named_greeting",
        language: { code: "en_US" },
        components: [
          { type: "header", parameters: [{ type: "text", parameter_name: "first_name", text: "Anna" }] },
          {
            type: "body",
            parameters: [
              { type: "text", parameter_name: "first_name", text: "Anna" },
              { type: "text", parameter_name: "order_id", text: "42" },
              { type: "text", parameter_name: "date", text: "May 1" },
            ],
          },
        ],
      },
    ],
    [
      "named format inferred when parameter_format is absent",
      template({ components: [{ type: "BODY", text: "Hi {{ first_name }}" }] }),
      "template-t+en_US+first_name:Anna",
      {
        name: "t",
        language: { code: "en_US" },
        components: [
          { type: "body", parameters: [{ type: "text", parameter_name: "first_name", text: "Anna" }] },
        ],
      },
    ],
    [
      "positional placeholders in numeric order, repeated ones counted once",
      template({
        components: [
          {
            type: "body",
            text: "{{2}} then {{1}}, again {{1}}; {{10}} ... {{3}} {{4}} {{5}} {{6}} {{7}} {{8}} {{9}}",
          },
        ],
      }),
      "template-t+en_US+a|b|c|d|e|f|g|h|i|j",
      {
        name: "t",
        language: { code: "en_US" },
        components: [
          {
            type: "body",
            parameters: "abcdefghij".split("").map((text) => ({ type: "text" as const, text })),
          },
        ],
      },
    ],
    [
      "video header",
      template({
        components: [
          { type: "HEADER", format: "VIDEO" },
          { type: "BODY", text: "Watch" },
        ],
      }),
      "template-t+en_US+file_link:https://cdn.example/v.mp4",
      {
        name: "t",
        language: { code: "en_US" },
        components: [
          { type: "header", parameters: [{ type: "video", video: { link: "https://cdn.example/v.mp4" } }] },
        ],
      },
    ],
    [
      "document header with the file name from the link",
      template({ components: [{ type: "HEADER", format: "DOCUMENT" }] }),
      "template-t+en_US+file_link:https://cdn.example/files/Rechnung%20M%C3%A4rz.pdf?sig=1",
      {
        name: "t",
        language: { code: "en_US" },
        components: [
          {
            type: "header",
            parameters: [
              {
                type: "document",
                document: {
                  link: "https://cdn.example/files/Rechnung%20M%C3%A4rz.pdf?sig=1",
                  filename: "Rechnung März.pdf",
                },
              },
            ],
          },
        ],
      },
    ],
    [
      "document header whose link has no file name",
      template({ components: [{ type: "HEADER", format: "DOCUMENT" }] }),
      "template-t+en_US+file_link:https://cdn.example/download?id=5",
      {
        name: "t",
        language: { code: "en_US" },
        components: [
          {
            type: "header",
            parameters: [{ type: "document", document: { link: "https://cdn.example/download?id=5" } }],
          },
        ],
      },
    ],
    [
      "document link with broken percent-encoding keeps the raw name",
      template({ components: [{ type: "HEADER", format: "DOCUMENT" }] }),
      "template-t+en_US+file_link:https://127.0.0.1:8080/a%E0%A4%A.pdf",
      {
        name: "t",
        language: { code: "en_US" },
        components: [
          {
            type: "header",
            parameters: [
              {
                type: "document",
                document: { link: "https://127.0.0.1:8080/a%E0%A4%A.pdf", filename: "a%E0%A4%A.pdf" },
              },
            ],
          },
        ],
      },
    ],
    [
      "static URL and phone buttons need nothing",
      template({
        components: [
          { type: "BODY", text: "Hi" },
          {
            type: "BUTTONS",
            buttons: [
              { type: "URL", text: "Shop", url: "https://shop.example" },
              { type: "PHONE_NUMBER", text: "Call", phone_number: "+15550001111" },
            ],
          },
        ],
      }),
      "template-t+en_US",
      { name: "t", language: { code: "en_US" } },
    ],
    [
      "OTP button (as created) takes the button parameter",
      template({
        components: [
          { type: "BODY", text: "{{1}} is your code" },
          { type: "BUTTONS", buttons: [{ type: "OTP", text: "Copy" }] },
        ],
      }),
      "template-t+en_US+123456|button_param:123456",
      {
        name: "t",
        language: { code: "en_US" },
        components: [
          { type: "body", parameters: [{ type: "text", text: "123456" }] },
          { type: "button", sub_type: "url", index: "0", parameters: [{ type: "text", text: "123456" }] },
        ],
      },
    ],
    [
      "lower-case component types and a header without format",
      template({
        components: [
          { type: "header", text: "For {{1}}" },
          { type: "body", text: "Hi" },
        ],
      }),
      "template-t+en_US+Anna",
      {
        name: "t",
        language: { code: "en_US" },
        components: [{ type: "header", parameters: [{ type: "text", text: "Anna" }] }],
      },
    ],
    [
      "template listed without components",
      { name: "bare_template", language: "de", status: "APPROVED" },
      "template-bare_template+de",
      { name: "bare_template", language: { code: "de" } },
    ],
  ])("%s", (_case, metaTemplate, text, expected) => {
    const parsed = parseShortcode(text, chat) as ParsedShortcode;
    expect(buildTemplateMessage(parsed, metaTemplate)).toEqual({ ok: true, template: expected });
  });

  it.each<[string, MetaTemplate, string, string, string]>([
    [
      "too few positional values",
      aprilPromo,
      "template-2023_april_promo+en_US+Mark",
      "Template 2023_april_promo (en_US): it expects 2 values, but 1 was given.",
      "template-2023_april_promo+en_US+<1>|<2>",
    ],
    [
      "values for a template without variables",
      helloWorld,
      "template-hello_world+en_US+x",
      "Template hello_world (en_US): it expects 0 values, but 1 was given.",
      "template-hello_world+en_US",
    ],
    [
      "header + body count",
      orderStatus,
      "template-order_status+en_US+Anna|12",
      "Template order_status (en_US): it expects 3 values (1 for the header + 2 for the body), but 2 were given.",
      "template-order_status+en_US+<header>|<1>|<2>",
    ],
    [
      "header only count",
      template({ components: [{ type: "HEADER", format: "TEXT", text: "Hi {{1}}" }] }),
      "template-t+en_US",
      "Template t (en_US): it expects 1 value, but 0 were given.",
      "template-t+en_US+<header>",
    ],
    [
      "empty and malformed values",
      aprilPromo,
      "template-2023_april_promo+en_US+|a[br]b",
      "Template 2023_april_promo (en_US): value 1 is empty; value 2 contains a line break, a tab or more than 4 spaces in a row.",
      "template-2023_april_promo+en_US+<1>|<2>",
    ],
    [
      "tab and five spaces",
      aprilPromo,
      "template-2023_april_promo+en_US+a\tb|a     b",
      "Template 2023_april_promo (en_US): value 1 contains a line break, a tab or more than 4 spaces in a row; value 2 contains a line break, a tab or more than 4 spaces in a row.",
      "template-2023_april_promo+en_US+<1>|<2>",
    ],
    [
      "named values for a positional template",
      aprilPromo,
      "template-2023_april_promo+en_US+Mark|code:FALL25",
      "Template 2023_april_promo (en_US): it takes values by position, not by name (code); write a colon as \\:; it expects 2 values, but 1 was given.",
      "template-2023_april_promo+en_US+<1>|<2>",
    ],
    [
      "positional values for a named template",
      namedGreeting,
      "template-named_greeting+en_US+Anna|42",
      "Template named_greeting (en_US): it takes named variables (name:value), but 2 unnamed values were given; missing first_name, order_id, date.",
      "template-named_greeting+en_US+first_name:<first_name>|order_id:<order_id>|date:<date>",
    ],
    [
      "one unnamed value",
      namedGreeting,
      "template-named_greeting+en_US+first_name:A|order_id:1|date:2|oops",
      "Template named_greeting (en_US): it takes named variables (name:value), but 1 unnamed value was given.",
      "template-named_greeting+en_US+first_name:<first_name>|order_id:<order_id>|date:<date>",
    ],
    [
      "missing, unknown and empty named variables",
      namedGreeting,
      "template-named_greeting+en_US+first_name:|orderid:42|date:May 1",
      "Template named_greeting (en_US): missing order_id; it has no variable orderid; first_name is empty.",
      "template-named_greeting+en_US+first_name:<first_name>|order_id:<order_id>|date:<date>",
    ],
    [
      "media header without file_link",
      reservation,
      "template-reservation_confirmation+en_US+number_of_guests:4|day:Sat|date:May 1|time:7",
      "Template reservation_confirmation (en_US): its image header needs file_link:<URL>.",
      "template-reservation_confirmation+en_US+number_of_guests:<number_of_guests>|day:<day>|date:<date>|time:<time>|file_link:<image URL>",
    ],
    [
      "file_link that is not a URL",
      template({ components: [{ type: "HEADER", format: "VIDEO" }] }),
      "template-t+en_US+file_link:video.mp4",
      'Template t (en_US): file_link "video.mp4" is not an https URL.',
      "template-t+en_US+file_link:<video URL>",
    ],
    [
      "file_link with another scheme",
      template({ components: [{ type: "HEADER", format: "DOCUMENT" }] }),
      "template-t+en_US+file_link:ftp://files.example/a.pdf",
      'Template t (en_US): file_link "ftp://files.example/a.pdf" is not an https URL.',
      "template-t+en_US+file_link:<document URL>",
    ],
    [
      "file_link over plain HTTP",
      template({ components: [{ type: "HEADER", format: "IMAGE" }] }),
      "template-t+en_US+file_link:http://files.example/a.jpg",
      'Template t (en_US): file_link "http://files.example/a.jpg" is not an https URL.',
      "template-t+en_US+file_link:<image URL>",
    ],
    [
      "file_link for a template without media header",
      aprilPromo,
      "template-2023_april_promo+en_US+Mark|FALL25|file_link:https://cdn.example/p.jpg",
      "Template 2023_april_promo (en_US): it has no media header, so file_link is not used.",
      "template-2023_april_promo+en_US+<1>|<2>",
    ],
    [
      "dynamic URL button without button_param",
      verificationCode,
      "template-verification_code+en_US+123456",
      "Template verification_code (en_US): its URL button needs button_param:<value>.",
      "template-verification_code+en_US+<1>|button_param:<value>",
    ],
    [
      "empty button_param",
      verificationCode,
      "template-verification_code+en_US+123456|button_param:",
      "Template verification_code (en_US): button_param is empty.",
      "template-verification_code+en_US+<1>|button_param:<value>",
    ],
    [
      "button_param for a template without a dynamic URL button",
      aprilPromo,
      "template-2023_april_promo+en_US+Mark|FALL25|button_param:x",
      "Template 2023_april_promo (en_US): it has no URL button with a variable, so button_param is not used.",
      "template-2023_april_promo+en_US+<1>|<2>",
    ],
    [
      "template not approved",
      template({ status: "PAUSED" }),
      "template-t+en_US",
      "Template t (en_US): its status is PAUSED, not APPROVED.",
      "template-t+en_US",
    ],
    [
      "repeated keys",
      caribbeanOffer,
      `template-caribbean_offer+en_US+a|b|file_link:${LINK}|file_link:${LINK}|button_param:1`,
      "Template caribbean_offer (en_US): file_link is given more than once.",
      "template-caribbean_offer+en_US+<1>|<2>|file_link:<image URL>|button_param:<value>",
    ],
    [
      "location header",
      template({
        components: [
          { type: "HEADER", format: "LOCATION" },
          { type: "BODY", text: "Find us" },
        ],
      }),
      "template-t+en_US",
      "Template t (en_US): it has a LOCATION header, which a shortcode cannot fill.",
      "template-t+en_US",
    ],
    [
      "copy code button (the documented limited-time offer)",
      template({
        components: [
          { type: "LIMITED_TIME_OFFER" },
          {
            type: "BUTTONS",
            buttons: [
              { type: "COPY_CODE", text: "Copy" },
              { type: "URL", url: "https://x.example/{{1}}" },
            ],
          },
        ],
      }),
      "template-t+en_US+button_param:x",
      "Template t (en_US): it has a LIMITED_TIME_OFFER component, a COPY_CODE button, which a shortcode cannot fill.",
      "template-t+en_US+button_param:<value>",
    ],
    [
      "two URL buttons with variables",
      template({
        components: [
          {
            type: "BUTTONS",
            buttons: [
              { type: "URL", url: "https://a.example/{{1}}" },
              { type: "URL", url: "https://b.example/{{1}}" },
            ],
          },
        ],
      }),
      "template-t+en_US+button_param:x",
      "Template t (en_US): it has 2 URL buttons with variables, which a shortcode cannot fill.",
      "template-t+en_US+button_param:<value>",
    ],
    [
      "several problems at once",
      template({
        status: "REJECTED",
        components: [
          { type: "HEADER", format: "IMAGE" },
          { type: "BODY", text: "{{1}}" },
        ],
      }),
      "template-t+en_US",
      "Template t (en_US): its status is REJECTED, not APPROVED; it expects 1 value, but 0 were given; its image header needs file_link:<URL>.",
      "template-t+en_US+<1>|file_link:<image URL>",
    ],
  ])("refuses: %s", (_case, metaTemplate, text, problem, expectedForm) => {
    const parsed = parseShortcode(text, chat) as ParsedShortcode;
    expect(buildTemplateMessage(parsed, metaTemplate)).toEqual({ ok: false, problem, expectedForm });
  });

  it("shows the bare form to SMS users who typed the bare form", () => {
    const parsed = parseShortcode("2023_april_promo+en_US", sms) as ParsedShortcode;
    expect(buildTemplateMessage(parsed, aprilPromo)).toMatchObject({
      ok: false,
      expectedForm: "2023_april_promo+en_US+<1>|<2>",
    });
  });

  it("uses Meta's spelling of the template, not the operator's", () => {
    const parsed = shortcode({ name: "hello_world", language: "en_us" });
    expect(buildTemplateMessage(parsed, helloWorld)).toEqual({
      ok: true,
      template: { name: "hello_world", language: { code: "en_US" } },
    });
  });
});

describe("shortcodeFor", () => {
  it.each<[MetaTemplate, ParsedShortcode["form"] | undefined, string]>([
    [helloWorld, undefined, "template-hello_world+en_US"],
    [aprilPromo, "keyword", "template-2023_april_promo+en_US+<1>|<2>"],
    [aprilPromo, "bare", "2023_april_promo+en_US+<1>|<2>"],
    [orderStatus, undefined, "template-order_status+en_US+<header>|<1>|<2>"],
    [
      namedGreeting,
      undefined,
      "template-named_greeting+en_US+first_name:<first_name>|order_id:<order_id>|date:<date>",
    ],
    [
      caribbeanOffer,
      undefined,
      "template-caribbean_offer+en_US+<1>|<2>|file_link:<image URL>|button_param:<value>",
    ],
    [
      template({ parameter_format: "POSITIONAL", components: [{ type: "BODY", text: "{{1}}" }] }),
      undefined,
      "template-t+en_US+<1>",
    ],
  ])("%# %s", (metaTemplate, form, expected) => {
    expect(shortcodeFor(metaTemplate, form)).toBe(expected);
  });
});

describe("findTemplate", () => {
  const many: MetaTemplate[] = [
    ...listed,
    template({ name: "order_update", language: "en_US" }),
    template({ name: "order_update", language: "de" }),
    template({ name: "order_update", language: "fr", status: "REJECTED" }),
    template({ name: "order_updated", language: "en_US" }),
    template({ name: "paused_one", language: "en_US", status: "PAUSED" }),
    template({ name: "pending_only", language: "en_US", status: "PENDING" }),
    template({ name: "shipping_notice", language: "en_US" }),
  ];

  it.each([
    ["exact match", "hello_world", "en_US", helloWorld],
    ["name case and language spelling do not matter", "Hello_World", "en_us", helloWorld],
    ["the right language among several", "order_update", "de", many[3]],
  ])("finds: %s", (_case, name, language, expected) => {
    expect(findTemplate(many, name, language)).toEqual({ ok: true, template: expected });
  });

  it.each([
    [
      "typo: similar names",
      "order_updte",
      "en_US",
      'No template "order_updte"; similar: order_update, order_updated',
    ],
    ["typo in hello_world", "helo_world", "en_US", 'No template "helo_world"; similar: hello_world'],
    ["part of a name", "promo", "en_US", 'No template "promo"; similar: 2023_april_promo'],
    ["nothing similar", "zzzzzzzzzz", "en_US", 'No template "zzzzzzzzzz"'],
    [
      "language not available",
      "order_update",
      "es",
      'Template "order_update" has no "es" version; approved languages: en_US, de',
    ],
    [
      "no approved language at all",
      "pending_only",
      "de",
      'Template "pending_only" has no "de" version; it has no approved language',
    ],
    [
      "not approved",
      "paused_one",
      "en_US",
      'Template "paused_one" (en_US) is PAUSED; only APPROVED templates can be sent',
    ],
    [
      "rejected language version",
      "order_update",
      "fr",
      'Template "order_update" (fr) is REJECTED; only APPROVED templates can be sent',
    ],
  ])("explains: %s", (_case, name, language, problem) => {
    expect(findTemplate(many, name, language)).toEqual({ ok: false, problem });
  });

  it("lists at most three similar names, closest first", () => {
    const names = ["ab_1", "ab_2", "ab_3", "ab_4", "ab_12"].map((name) => template({ name }));
    expect(findTemplate(names, "ab_", "en_US")).toEqual({
      ok: false,
      problem: 'No template "ab_"; similar: ab_1, ab_2, ab_3',
    });
  });

  it("says when no templates are known at all", () => {
    expect(findTemplate([], "hello_world", "en_US")).toEqual({
      ok: false,
      problem: 'No template "hello_world": no templates are known for this WhatsApp account',
    });
  });
});
