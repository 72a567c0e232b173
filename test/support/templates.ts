import type { MetaTemplate } from "#shared/domain/template-shortcode.ts";

/**
 * Templates as Meta lists them (`GET /{waba-id}/message_templates` data[], meta-whatsapp.md §7.4; the
 * shapes of fixtures/meta/message_templates_list_response.json), for tests that send them.
 */

/** Positional, two body variables and nothing else. */
export const SHIPPING_NOTICE: MetaTemplate = {
  name: "shipping_notice",
  language: "en_US",
  status: "APPROVED",
  category: "UTILITY",
  components: [{ type: "BODY", text: "Hi {{1}}, your order {{2}} has shipped." }],
};

/** Positional, with an image header and a URL button with a variable. */
export const ORDER_UPDATE: MetaTemplate = {
  name: "order_update",
  language: "en_US",
  status: "APPROVED",
  category: "UTILITY",
  components: [
    { type: "HEADER", format: "IMAGE" },
    { type: "BODY", text: "Order {{1}} is {{2}}." },
    { type: "BUTTONS", buttons: [{ type: "URL", text: "Track", url: "https://shop.example/track/{{1}}" }] },
  ],
};

/** The template Meta receives for SHIPPING_NOTICE filled with these two values. */
export const shippingNoticeSent = (first: string, second: string) => ({
  name: "shipping_notice",
  language: { code: "en_US" },
  components: [
    {
      type: "body",
      parameters: [
        { type: "text", text: first },
        { type: "text", text: second },
      ],
    },
  ],
});
