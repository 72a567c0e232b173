import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetQueueAttributesCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDocumentClient } from "#shared/adapters/dynamodb/store.ts";
import { makeSqsClient } from "#shared/adapters/sqs/fifo-queue.ts";
import type { InboundEvent } from "#shared/domain/inbound-event.ts";
import { getRuntime } from "#shared/runtime.ts";
import { eventually, startTestStack, type TestStack } from "../support/stack.ts";

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

const WABA_ID = "102290129340398";

/** An account-level event: the inbound worker records it without needing a portal or a phone. */
function fieldEvent(name: string): InboundEvent {
  return {
    v: 1,
    id: `field:account_update:${name}`,
    kind: "field",
    appId: "1234",
    wabaId: WABA_ID,
    field: "account_update",
    timestamp: 1_700_000_000,
    value: { event: "VERIFIED_ACCOUNT", note: name },
  };
}

async function storedEvent(eventId: string): Promise<Record<string, any> | undefined> {
  const out = await makeDocumentClient(new DynamoDBClient({})).send(
    new GetCommand({
      TableName: stack.resources.tableName,
      Key: { pk: `EVT#${eventId}`, sk: "EVT" },
      ConsistentRead: true,
    }),
  );
  return out.Item;
}

async function depth(url: string): Promise<number> {
  const out = await makeSqsClient().send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

async function listAll(): Promise<any[]> {
  const res = await stack.admin("GET", "/api/admin/dead-letters");
  expect(res.status).toBe(200);
  return res.body.items;
}

const inbound = () => stack.resources.queues[0]!;
const dlqEvent = fieldEvent("from-the-dlq");
const workerEvent = fieldEvent("given-up-by-a-worker");
let dlqLetterId: string;

describe("dead letters", () => {
  it("drains a message from the inbound dead-letter queue into the list, source dlq", async () => {
    await makeSqsClient().send(
      new SendMessageCommand({
        QueueUrl: inbound().dlqUrl,
        MessageBody: JSON.stringify(dlqEvent),
        MessageGroupId: `${WABA_ID}:account_update`,
        MessageDeduplicationId: "dlq-test-1",
      }),
    );
    expect(await depth(inbound().dlqUrl)).toBe(1);

    const items = await listAll();
    const letter = items.find((i) => i.message?.id === dlqEvent.id);
    expect(letter).toMatchObject({
      queue: "inbound",
      source: "dlq",
      messageGroupId: `${WABA_ID}:account_update`,
      message: dlqEvent,
    });
    expect(letter.reason).toMatch(/moved to the dead-letter queue after \d+ receives/);
    expect(typeof letter.attempts).toBe("number");
    expect(Date.parse(letter.failedAt)).not.toBeNaN();
    expect(letter.id).toEqual(expect.any(String));
    expect(letter).not.toHaveProperty("body");
    dlqLetterId = letter.id;

    expect(await depth(inbound().dlqUrl)).toBe(0);
    // Listing again neither loses nor duplicates it.
    expect((await listAll()).filter((i) => i.id === dlqLetterId)).toHaveLength(1);
  });

  it("keeps a worker's letter, with its reason, for a message SQS then moved to the dead-letter queue", async () => {
    // A worker held it before its last attempt and died: SQS moved it, with the original message id as
    // its deduplication id (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/
    // sqs-configure-dead-letter-queue-redrive.html).
    const { deadLetters } = await getRuntime();
    const held = fieldEvent("held-before-its-last-attempt");
    await deadLetters.hold({
      id: "original-message-id",
      queue: "inbound",
      body: JSON.stringify(held),
      messageGroupId: `${WABA_ID}:held`,
      orderKey: "42",
      reason: "its last attempt did not finish (the worker crashed or timed out)",
      attempts: 300,
      failedAt: "2098-01-01T00:00:00.000Z",
      source: "worker",
    });
    await makeSqsClient().send(
      new SendMessageCommand({
        QueueUrl: inbound().dlqUrl,
        MessageBody: JSON.stringify(held),
        MessageGroupId: `${WABA_ID}:held`,
        MessageDeduplicationId: "original-message-id",
      }),
    );
    const mine = (await listAll()).filter((i) => i.message?.id === held.id);
    expect(mine).toEqual([
      expect.objectContaining({ id: "original-message-id", source: "worker", orderKey: "42" }),
    ]);
    expect(await depth(inbound().dlqUrl)).toBe(0);
    await deadLetters.discard((await deadLetters.get("original-message-id"))!);
  });

  it("lists dead letters recorded by workers with their reason, newest first", async () => {
    const { deadLetters } = await getRuntime();
    await deadLetters.record({
      id: "worker-letter-1",
      queue: "inbound",
      body: JSON.stringify(workerEvent),
      messageGroupId: `${WABA_ID}:account_update`,
      reason: "Bitrix24 refused the message: CONNECTOR_NOT_ACTIVE",
      attempts: 5,
      failedAt: "2099-01-01T00:00:00.000Z",
      source: "worker",
    });
    await deadLetters.record({
      id: "worker-letter-old",
      queue: "inbound",
      body: "not json at all",
      reason: "the queue message is not JSON",
      attempts: 1,
      failedAt: "2000-01-01T00:00:00.000Z",
      source: "worker",
    });

    const items = await listAll();
    expect(items[0]).toEqual({
      id: "worker-letter-1",
      queue: "inbound",
      reason: "Bitrix24 refused the message: CONNECTOR_NOT_ACTIVE",
      attempts: 5,
      failedAt: "2099-01-01T00:00:00.000Z",
      source: "worker",
      messageGroupId: `${WABA_ID}:account_update`,
      message: workerEvent,
    });
    expect(items.at(-1)).toMatchObject({ id: "worker-letter-old", body: "not json at all" });
    expect(items.map((i) => i.id)).toContain(dlqLetterId);

    const first = await stack.admin("GET", "/api/admin/dead-letters?limit=1");
    expect(first.body.items.map((i: any) => i.id)).toEqual(["worker-letter-1"]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await stack.admin(
      "GET",
      `/api/admin/dead-letters?limit=1&cursor=${encodeURIComponent(first.body.nextCursor)}`,
    );
    expect(second.body.items).toHaveLength(1);
    expect(second.body.items[0].id).not.toBe("worker-letter-1");

    // A page that ends exactly at the last item is the last page: no cursor to an empty one.
    const whole = await stack.admin("GET", `/api/admin/dead-letters?limit=${items.length}`);
    expect(whole.body.items).toHaveLength(items.length);
    expect(whole.body).not.toHaveProperty("nextCursor");
    const last = await stack.admin(
      "GET",
      `/api/admin/dead-letters?limit=${items.length - 1}&cursor=${encodeURIComponent(
        (await stack.admin("GET", "/api/admin/dead-letters?limit=1")).body.nextCursor,
      )}`,
    );
    expect(last.body.items).toHaveLength(items.length - 1);
    expect(last.body).not.toHaveProperty("nextCursor");
  });

  it("redrives dead letters to the inbound queue, where the worker processes them, and forgets them", async () => {
    expect(await storedEvent(workerEvent.id)).toBeUndefined();
    expect(await storedEvent(dlqEvent.id)).toBeUndefined();

    const res = await stack.admin("POST", "/api/admin/dead-letters/redrive", {
      ids: ["worker-letter-1", dlqLetterId],
    });
    expect(res.status).toBe(200);
    expect(res.body.failed).toEqual([]);
    expect([...res.body.redriven].sort()).toEqual(["worker-letter-1", dlqLetterId].sort());

    const stored = await eventually(() => storedEvent(workerEvent.id));
    expect(stored.event).toMatchObject({ id: workerEvent.id, kind: "field", wabaId: WABA_ID });
    await eventually(() => storedEvent(dlqEvent.id));

    const ids = (await listAll()).map((i) => i.id);
    expect(ids).not.toContain("worker-letter-1");
    expect(ids).not.toContain(dlqLetterId);
    expect(ids).toContain("worker-letter-old");
  });

  it("reports unknown ids in failed and leaves the others alone", async () => {
    const res = await stack.admin("POST", "/api/admin/dead-letters/redrive", { ids: ["no-such-letter"] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ redriven: [], failed: [{ id: "no-such-letter", error: "not found" }] });
    expect((await listAll()).map((i) => i.id)).toContain("worker-letter-old");
  });

  it("answers 400 to a malformed redrive body", async () => {
    for (const body of [{ ids: "worker-letter-old" }, { ids: [] }, { all: true }]) {
      const res = await stack.admin("POST", "/api/admin/dead-letters/redrive", body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
    }
  });

  it("refuses both routes without the admin token", async () => {
    const list = await fetch(`${stack.url}/api/admin/dead-letters`);
    expect(list.status).toBe(401);
    const redrive = await fetch(`${stack.url}/api/admin/dead-letters/redrive`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer wrong" },
      body: "{}",
    });
    expect(redrive.status).toBe(401);
    expect((await listAll()).map((i) => i.id)).toContain("worker-letter-old");
  });

  it("describes both routes in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${stack.url}/api/admin/openapi.json`)).json()) as any;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/admin/dead-letters", "/api/admin/dead-letters/redrive"]),
    );
    const list = doc.paths["/api/admin/dead-letters"].get;
    const item = list.responses["200"].content["application/json"].schema.properties.items.items;
    expect(Object.keys(item.properties)).toEqual(
      expect.arrayContaining(["id", "queue", "reason", "attempts", "failedAt", "source", "message"]),
    );
    expect(doc.paths["/api/admin/dead-letters/{id}"].delete).toBeDefined();
    expect(Object.keys(item.properties)).toEqual(expect.arrayContaining(["orderKey", "waitingBehind"]));
    const redrive = doc.paths["/api/admin/dead-letters/redrive"].post;
    expect(redrive.requestBody.content["application/json"].schema.properties.ids.type).toBe("array");
    expect(Object.keys(redrive.responses["200"].content["application/json"].schema.properties)).toEqual([
      "redriven",
      "failed",
    ]);
  });

  it("redrives everything when no ids are given, draining the dead-letter queue first", async () => {
    const event = fieldEvent("redrive-all");
    await makeSqsClient().send(
      new SendMessageCommand({
        QueueUrl: inbound().dlqUrl,
        MessageBody: JSON.stringify(event),
        MessageGroupId: `${WABA_ID}:account_update`,
        MessageDeduplicationId: "dlq-test-2",
      }),
    );
    const res = await stack.admin("POST", "/api/admin/dead-letters/redrive", {});
    expect(res.status).toBe(200);
    expect(res.body.failed).toEqual([]);
    expect(res.body.redriven).toHaveLength(2);
    expect(res.body.redriven).toContain("worker-letter-old");
    expect(await depth(inbound().dlqUrl)).toBe(0);
    await eventually(() => storedEvent(event.id));
    // What still cannot be processed (the non-JSON body) may come back as a new dead letter; these are gone.
    const ids = (await listAll()).map((i) => i.id);
    expect(ids).not.toContain("worker-letter-old");
    expect(ids.filter((id) => res.body.redriven.includes(id))).toEqual([]);
  });
});
