import { describe, expect, it } from "vitest";
import {
  buildTemplateMessage,
  fillShortcode,
  type MetaTemplate,
  parseShortcode,
  templateInputs,
} from "#shared/domain/template-shortcode.ts";
import { ORDER_UPDATE } from "../../support/templates.ts";

const positional = ORDER_UPDATE;
const named: MetaTemplate = {
  name: "greeting_named",
  language: "de",
  status: "APPROVED",
  parameter_format: "NAMED",
  components: [
    { type: "HEADER", format: "TEXT", text: "Hi {{first_name}}" },
    { type: "BODY", text: "Hallo {{first_name}}, Termin {{date}}!" },
  ],
};

describe("the template picker's fields and shortcode", () => {
  it("lists a field per variable, the header media and the URL-button parameter", () => {
    expect(templateInputs(positional)).toEqual({
      named: false,
      variables: [
        { key: "1", header: false },
        { key: "2", header: false },
      ],
      mediaKind: "image",
      buttonParam: true,
      unsupported: [],
    });
    expect(templateInputs(named).variables).toEqual([
      { key: "first_name", header: true },
      { key: "date", header: false },
    ]);
  });

  it("fills a shortcode that the chat's parser reads back to the same values, escapes included", () => {
    const code = fillShortcode(positional, {
      variables: { "0": "A|17", "1": "ready: at 5" },
      fileLink: "https://cdn.example/p.jpg",
      buttonParam: "A17",
    });
    expect(code).toBe(
      "template-order_update+en_US+A\\|17|ready\\: at 5|file_link:https://cdn.example/p.jpg|button_param:A17",
    );
    const parsed = parseShortcode(code, { bare: false });
    expect(parsed).toMatchObject({
      name: "order_update",
      language: "en_US",
      positional: ["A|17", "ready: at 5"],
      fileLink: "https://cdn.example/p.jpg",
      buttonParam: "A17",
    });
    expect(buildTemplateMessage(parsed!, positional).ok).toBe(true);
  });

  it("fills named variables by name", () => {
    const code = fillShortcode(named, { variables: { first_name: "Anna", date: "12:30" } });
    expect(code).toBe("template-greeting_named+de+first_name:Anna|date:12\\:30");
    const parsed = parseShortcode(code, { bare: false });
    expect(parsed?.named).toEqual({ first_name: "Anna", date: "12:30" });
    expect(buildTemplateMessage(parsed!, named).ok).toBe(true);
  });
});
