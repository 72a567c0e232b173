import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CachedCustomerStore } from "#shared/adapters/dynamodb/cached-customer-store.ts";
import { DynamoCustomerStore } from "#shared/adapters/dynamodb/customer-store.ts";
import { clockAt, countingClient, tableClient } from "../support/counted-table.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

/** A customer store whose BatchGetItem requests are counted: what the cache saves is reads. */
function counted(): { store: DynamoCustomerStore; reads: () => number } {
  const { tableClient: client, reads } = countingClient("BatchGetItemCommand");
  return { store: new DynamoCustomerStore(client), reads };
}

const elsewhere = () => new DynamoCustomerStore(tableClient());

describe("CachedCustomerStore", () => {
  it("reads an identifier's alias (found or absent) once per TTL; another process's change shows after it", async () => {
    const scope = `s-${randomBytes(4).toString("hex")}`;
    await elsewhere().putAliases(scope, ["16505550001", "U1"], { key: "16505550001", userId: "U1" });
    const { store, reads } = counted();
    const clock = clockAt(Date.now());
    const cached = new CachedCustomerStore(store, clock, 60_000);

    const first = await cached.getAliases(scope, ["U1", "16505550002"]);
    expect(first.get("U1")?.key).toBe("16505550001");
    expect(first.has("16505550002")).toBe(false);
    await cached.getAliases(scope, ["U1", "16505550002"]);
    expect(reads()).toBe(1);

    // Another worker joins the second phone to the customer: seen here once the TTL has passed.
    await elsewhere().putAliases(scope, ["16505550002"], { key: "16505550001", phone: "16505550002" });
    expect((await cached.getAliases(scope, ["16505550002"])).has("16505550002")).toBe(false);
    clock.advance(60_000);
    expect((await cached.getAliases(scope, ["16505550002"])).get("16505550002")?.key).toBe("16505550001");
    expect(reads()).toBe(2);
  });

  it("reads only the identifiers it does not hold, and keeps what this process writes", async () => {
    const scope = `s-${randomBytes(4).toString("hex")}`;
    const { store, reads } = counted();
    const cached = new CachedCustomerStore(store, clockAt(Date.now()), 60_000);
    await cached.getAliases(scope, ["16505550003"]);
    await cached.putAliases(scope, ["16505550003", "U3"], { key: "16505550003", userId: "U3" });
    const found = await cached.getAliases(scope, ["16505550003", "U3"]);
    expect(found.get("U3")?.key).toBe("16505550003");
    expect(found.get("16505550003")?.userId).toBe("U3");
    expect(reads()).toBe(1);
    await cached.getAliases(scope, ["U3", "U4"]);
    expect(reads()).toBe(2);
    // What it wrote is what the table holds.
    expect((await elsewhere().getAliases(scope, ["U3"])).get("U3")?.key).toBe("16505550003");
  });
});
