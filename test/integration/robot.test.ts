import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROBOT_CODE } from "#shared/use-cases/sync-robot.ts";
import { fixtureJson } from "../fixtures.ts";
import { eventually } from "../support/stack.ts";
import { SHIPPING_NOTICE, shippingNoticeSent } from "../support/templates.ts";
import { PHONE, PHONE_ID, startWorld, WABA_ID, type World } from "../support/world.ts";

let world: World;
const CUSTOMER = "+16505550199";
const robot = () => world.bitrix.portal(world.memberId).robots.get(ROBOT_CODE) as any;
const runRobot = (properties: Record<string, string>, handler = robot().HANDLER as string) =>
  fetch(handler, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: world.bitrix.robotHandlerBody(world.memberId, { code: ROBOT_CODE, properties }),
  });

beforeAll(async () => {
  world = await startWorld();
  world.meta.setTemplates(WABA_ID, [
    ...fixtureJson<{ data: unknown[] }>("meta/message_templates_list_response.json").data,
    SHIPPING_NOTICE,
  ]);
});

afterAll(async () => {
  await world?.stop();
});

describe('CRM robot "Send WhatsApp template"', () => {
  it("is registered with bizproc.robot.add, listing the portal's SMS-enabled numbers", () => {
    expect(robot()).toMatchObject({
      CODE: ROBOT_CODE,
      HANDLER: expect.stringMatching(new RegExp(`^${world.stack.url}/api/bitrix/robot/\\?h=`)),
      USE_SUBSCRIPTION: "Y",
      PROPERTIES: {
        sender: { Type: "select", Options: { [PHONE_ID]: PHONE } },
        template: { Type: "select" },
        phone: { Type: "string", Required: "Y" },
      },
      RETURN_PROPERTIES: { status: { Type: "string" }, error: { Type: "string" } },
    });
  });

  it("is updated with bizproc.robot.update once the number changes: the template list shows the catalog", async () => {
    expect((await world.stack.admin("GET", `/api/admin/wabas/${WABA_ID}/templates`)).status).toBe(200);
    expect((await world.stack.admin("PATCH", `/api/admin/phones/${PHONE_ID}`, {})).status).toBe(200);
    expect(world.bitrix.calledMethods(world.memberId)).toContain("bizproc.robot.update");
    expect(robot().PROPERTIES.template.Options).toMatchObject({
      "hello_world+en_US": "hello_world (en_US)",
      "shipping_notice+en_US": "shipping_notice (en_US)",
    });
  });

  it("sends the template through the SMS provider's path and tells the robot it went", async () => {
    const res = await runRobot({
      sender: PHONE_ID,
      template: "shipping_notice+en_US",
      variables: "Anna|A-17",
      phone: CUSTOMER,
    });
    expect(res.status).toBe(200);
    const sent = await eventually(async () =>
      world.meta.messagesTo(CUSTOMER.slice(1)).find((m) => m.type === "template"),
    );
    expect(sent.body.template).toEqual(shippingNoticeSent("Anna", "A-17"));
    const result = await eventually(async () => world.bitrix.portal(world.memberId).robotResults.at(0));
    expect(result.returnValues).toEqual({ status: "sent", error: "" });
  });

  it("tells the robot why a template cannot go, before Meta is asked", async () => {
    const before = world.meta.sentMessages.length;
    expect(
      (
        await runRobot({
          sender: PHONE_ID,
          template: "shipping_notice+en_US",
          variables: "only-one",
          phone: CUSTOMER,
        })
      ).status,
    ).toBe(200);
    const result = await eventually(async () => world.bitrix.portal(world.memberId).robotResults.at(1));
    expect(result.returnValues.status).toBe("failed");
    expect(result.returnValues.error).toMatch(/expects 2 values, but 1 was given/);
    expect(world.meta.sentMessages.length).toBe(before);
  });

  it("refuses a call without the handler URL's secret, and a number of no portal", async () => {
    const noSecret = String(robot().HANDLER).replace(/\?h=.*/, "");
    expect(
      (await runRobot({ sender: PHONE_ID, template: "hello_world+en_US", phone: CUSTOMER }, noSecret)).status,
    ).toBe(401);
    expect((await runRobot({ sender: "999", template: "hello_world+en_US", phone: CUSTOMER })).status).toBe(
      400,
    );
  });
});
