/**
 * Every public route, fed odd bodies an attacker can send without any secret: each gets a 4xx (or a
 * harmless 200), never a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorld, type World } from "../support/world.ts";

let world: World;

beforeAll(async () => {
  world = await startWorld();
});

afterAll(async () => {
  await world?.stop();
});

const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
const deepForm = (n: number) => `${"a".concat("[b]".repeat(n))}=1`;

const bodies: Record<string, { type: string; body: string | Uint8Array }> = {
  "empty json": { type: "application/json", body: "" },
  "json null": { type: "application/json", body: "null" },
  "json number": { type: "application/json", body: "12" },
  "json array": { type: "application/json", body: "[1,2]" },
  "json string": { type: "application/json", body: '"x"' },
  "broken json": { type: "application/json", body: '{"a":' },
  "deep json": { type: "application/json", body: deep(100_000) },
  "proto json": {
    type: "application/json",
    body: '{"__proto__":{"x":1},"constructor":{"prototype":{"y":1}}}',
  },
  "empty form": { type: "application/x-www-form-urlencoded", body: "" },
  "deep form": { type: "application/x-www-form-urlencoded", body: deepForm(5000) },
  "wide form": {
    type: "application/x-www-form-urlencoded",
    body: Array.from({ length: 20_000 }, (_, i) => `k${i}=v`).join("&"),
  },
  "array form": {
    type: "application/x-www-form-urlencoded",
    body: "event[]=ONIMCONNECTORMESSAGEADD&auth[]=x&auth[domain][]=a&data[]=1&member_id[]=1",
  },
  "proto form": {
    type: "application/x-www-form-urlencoded",
    body: "__proto__[x]=1&constructor[prototype][y]=1&auth[__proto__][z]=1&event=ONAPPINSTALL",
  },
  "bad percent form": { type: "application/x-www-form-urlencoded", body: "event=%E0%A4%A&auth[domain]=%ZZ" },
  "long values form": {
    type: "application/x-www-form-urlencoded",
    body: `event=${"E".repeat(100_000)}&auth[member_id]=${"m".repeat(100_000)}&auth[application_token]=x`,
  },
  binary: { type: "application/octet-stream", body: new Uint8Array([0xff, 0xfe, 0, 1, 2, 0x80]) },
  "invalid utf8 json": {
    type: "application/json",
    body: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
  },
  "json as form": { type: "application/x-www-form-urlencoded", body: '{"event":"ONAPPINSTALL"}' },
  "form as json": { type: "application/json", body: "event=ONAPPINSTALL&auth[domain]=x" },
  "big body": { type: "application/x-www-form-urlencoded", body: `x=${"a".repeat(5 * 1024 * 1024)}` },
};

const routes: [string, string][] = [
  ["POST", "/api/waba"],
  ["POST", "/api/waba/?app_id=1&app_id=2"],
  ["GET", "/api/waba?hub.mode=subscribe&hub.verify_token[]=x&hub.challenge=1"],
  ["POST", "/api/bitrix/"],
  ["POST", "/api/bitrix/?h=x&h=y"],
  ["POST", "/api/bitrix/sms/"],
  ["POST", "/api/bitrix/robot/"],
  ["POST", "/api/bitrix/app/"],
  ["POST", "/api/bitrix/app/numbers"],
  ["POST", "/api/bitrix/app/picker?session=x"],
  ["PUT", "/api/bitrix/app/anything/else"],
  ["POST", "/api/admin/apps"],
  ["PUT", "/api/admin/phones/1/calling"],
];

describe("no public route answers 500 to an odd body", () => {
  for (const [method, path] of routes) {
    it(`${method} ${path}`, async () => {
      const failures: string[] = [];
      for (const [name, { type, body }] of Object.entries(bodies)) {
        const res = await fetch(`${world.stack.url}${path}`, {
          method,
          headers: { "content-type": type },
          body: method === "GET" ? undefined : body,
        });
        const text = await res.text();
        if (res.status >= 500) failures.push(`${name}: ${res.status} ${text.slice(0, 200)}`);
      }
      expect(failures).toEqual([]);
    });
  }
});

describe("no authenticated Bitrix24 call answers 500 to odd data", () => {
  const odd: unknown[] = [
    "x",
    [],
    { CONNECTOR: [], LINE: {}, MESSAGES: "x" },
    { CONNECTOR: "x", LINE: "abc", MESSAGES: [{}] },
    {
      LINE: "1",
      MESSAGES: [{ im: { chat_id: [] }, message: { id: {}, text: [], files: "x" }, chat: { id: {} } }],
    },
    { LINE: "1", MESSAGES: [{ im: "x", message: "y", chat: "z" }] },
    { LINE: "1", MESSAGES: [{ message: { files: [{ link: "file:///etc/passwd", name: [] }] } }] },
    { MESSAGES: Array.from({ length: 500 }, () => ({ message: { text: "x" } })) },
  ];
  const events = [
    "ONIMCONNECTORMESSAGEADD",
    "ONIMCONNECTORMESSAGEUPDATE",
    "ONIMCONNECTORMESSAGEDELETE",
    "ONIMCONNECTORSTATUSDELETE",
    "ONIMCONNECTORLINEDELETE",
    "ONAPPUPDATE",
  ];
  for (const event of events) {
    it(event, async () => {
      const failures: string[] = [];
      let delivered = 0;
      for (const data of odd) {
        for (const answer of await world.bitrix.deliverEvent(world.memberId, event, data)) {
          delivered++;
          if (answer.status >= 500) failures.push(`${JSON.stringify(data).slice(0, 80)}: ${answer.status}`);
        }
      }
      expect(failures).toEqual([]);
      // The portal bound a handler for the event: the odd data reached the bridge.
      expect(delivered).toBe(odd.length);
    });
  }

  it("the SMS provider and the robot", async () => {
    const post = async (path: string, body: string) => {
      const res = await fetch(`${world.stack.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
      });
      return res.status;
    };
    const failures: string[] = [];
    const inputs = [
      { code: "x", messageTo: "", messageBody: "" },
      { code: "", messageTo: "not a phone", messageBody: "x".repeat(100_000) },
      {
        code: "x".repeat(10_000),
        messageTo: "+1".repeat(5000),
        messageBody: "{{1}}|file_link:file:///etc/passwd",
      },
      {
        code: "x",
        messageTo: "+15550001111",
        messageBody: "tpl|file_link:http://127.0.0.1/x|button_param:x",
      },
    ];
    for (const input of inputs) {
      const sms = world.bitrix.messageserviceHandlerBody(world.memberId, input);
      for (const path of ["/api/bitrix/sms/", "/api/bitrix/robot/"]) {
        const status = await post(path, sms);
        if (status >= 500) failures.push(`${path} ${input.messageTo.slice(0, 20)}: ${status}`);
      }
      const robot = world.bitrix.robotHandlerBody(world.memberId, {
        code: input.code,
        properties: { phone: input.messageTo, template: input.messageBody },
      });
      const status = await post("/api/bitrix/robot/", robot);
      if (status >= 500) failures.push(`robot ${input.code.slice(0, 20)}: ${status}`);
    }
    expect(failures).toEqual([]);
  });
});

describe("no public route answers 500 to odd hosts and query strings", () => {
  const hosts = [
    "",
    ",",
    "[::1",
    "[::1]:x",
    "a".repeat(4000),
    "%00",
    "xn--",
    "a..b",
    "UPPER.Example.COM:443",
  ];
  const queries = ["?app_id=", "?app_id=%00", `?app_id=${"9".repeat(5000)}`, "?app_id[]=1", "?h=&h=", "?%=1"];
  for (const path of ["/api/waba", "/api/bitrix/", "/api/bitrix/app/", "/api/bitrix/sms/"]) {
    it(`POST ${path}`, async () => {
      const failures: string[] = [];
      for (const host of hosts) {
        for (const query of queries) {
          const res = await fetch(`${world.stack.url}${path}${query}`, {
            method: "POST",
            headers: { "x-forwarded-host": host, "content-type": "application/json" },
            body: '{"object":"whatsapp_business_account","entry":[]}',
          });
          await res.text();
          if (res.status >= 500) failures.push(`${host.slice(0, 20)} ${query.slice(0, 20)}: ${res.status}`);
        }
      }
      expect(failures).toEqual([]);
    });
  }
});
