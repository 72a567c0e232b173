import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoBitrixStore } from "#shared/adapters/dynamodb/bitrix-store.ts";
import { CachedBitrixStore } from "#shared/adapters/dynamodb/cached-bitrix-store.ts";
import type { PhoneRecord } from "#shared/ports/bitrix-store.ts";
import { clockAt, countingClient, tableClient } from "../support/counted-table.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

function phone(phoneId: string, connected: boolean): PhoneRecord {
  return {
    phoneId,
    phone: "+15550001111",
    wabaId: "102290129340398",
    memberId: "m1",
    smsService: false,
    line: connected ? { id: 7, name: "separator_15550001111" } : null,
    connector: connected ? { status: "active" } : { status: "error", error: "line deleted" },
    smsSender: null,
    readReceipts: false,
    typingIndicator: false,
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
  };
}

describe("CachedBitrixStore", () => {
  it("reads a connected phone once per TTL; what another process changes shows after it", async () => {
    const other = new DynamoBitrixStore(tableClient());
    const id = `p-${randomBytes(4).toString("hex")}`;
    await other.createPhone(phone(id, true));
    const counted = countingClient("GetItemCommand");
    const reads = counted.reads;
    const clock = clockAt(Date.now());
    const cached = new CachedBitrixStore(counted.tableClient, clock, 5_000);

    expect((await cached.getPhone(id))?.line?.id).toBe(7);
    await cached.getPhone(id);
    await cached.getPhone(id);
    expect(reads()).toBe(1);

    await other.setPhoneConnector(id, { status: "error", error: "gone" }, "2026-01-02T00:00:00.000Z");
    expect((await cached.getPhone(id))?.connector.status).toBe("active");
    clock.advance(5_000);
    expect((await cached.getPhone(id))?.connector.status).toBe("error");
    expect(reads()).toBe(2);
  });

  it("never keeps a phone that cannot take messages, so a reconnect shows at once", async () => {
    const other = new DynamoBitrixStore(tableClient());
    const id = `p-${randomBytes(4).toString("hex")}`;
    await other.createPhone(phone(id, false));
    const counted = countingClient("GetItemCommand");
    const reads = counted.reads;
    const cached = new CachedBitrixStore(counted.tableClient, clockAt(Date.now()), 5_000);

    expect((await cached.getPhone(id))?.line).toBeNull();
    await other.putPhone(phone(id, true), phone(id, false));
    expect((await cached.getPhone(id))?.line?.id).toBe(7);
    expect(reads()).toBe(2);
  });

  it("drops its copy when this process writes the phone", async () => {
    const id = `p-${randomBytes(4).toString("hex")}`;
    const counted = countingClient("GetItemCommand");
    const reads = counted.reads;
    const cached = new CachedBitrixStore(counted.tableClient, clockAt(Date.now()), 5_000);
    await cached.createPhone(phone(id, true));
    await cached.getPhone(id);
    await cached.setPhoneConnector(
      id,
      { status: "error", error: "NOT_ACTIVE_LINE" },
      "2026-01-02T00:00:00.000Z",
    );
    expect((await cached.getPhone(id))?.connector.status).toBe("error");
    expect(reads()).toBe(2);
  });

  it("with phones off, reads every phone afresh (a reply applies the number's settings as they are now)", async () => {
    const other = new DynamoBitrixStore(tableClient());
    const id = `p-${randomBytes(4).toString("hex")}`;
    await other.createPhone(phone(id, true));
    const counted = countingClient("GetItemCommand");
    const reads = counted.reads;
    const cached = new CachedBitrixStore(counted.tableClient, clockAt(Date.now()), 5_000, { phones: false });

    expect((await cached.getPhone(id))?.readReceipts).toBe(false);
    await other.putPhone({ ...phone(id, true), readReceipts: true }, phone(id, true));
    expect((await cached.getPhone(id))?.readReceipts).toBe(true);
    expect(reads()).toBe(2);
  });

  it("keeps a line's pointer to its phone, checked against the phone each time: a reconnect to another line shows at once", async () => {
    const other = new DynamoBitrixStore(tableClient());
    const id = `p-${randomBytes(4).toString("hex")}`;
    const memberId = `m-${id}`;
    const onLine7 = { ...phone(id, true), memberId };
    await other.putPhone(onLine7, undefined);
    const counted = countingClient("GetItemCommand");
    const cached = new CachedBitrixStore(counted.tableClient, clockAt(Date.now()), 5_000, { phones: false });

    expect((await cached.findPhoneByLine(memberId, 7))?.phoneId).toBe(id);
    expect((await cached.findPhoneByLine(memberId, 7))?.phoneId).toBe(id);
    // The pointer once, the phone (read afresh) twice.
    expect(counted.reads()).toBe(3);

    await other.putPhone({ ...onLine7, line: { id: 8, name: "separator_15550001111" } }, onLine7);
    expect(await cached.findPhoneByLine(memberId, 7)).toBeUndefined();
    expect((await cached.findPhoneByLine(memberId, 8))?.phoneId).toBe(id);
  });
});
