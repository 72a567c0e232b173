import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { GetCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hooked } from "#shared/adapters/aws-client-hooks.ts";
import { makeDocumentClient } from "#shared/adapters/dynamodb/store.ts";
import { S3ClaimWriter } from "#shared/adapters/s3/claim-writer.ts";
import { S3MediaStore } from "#shared/adapters/s3/media-store.ts";
import type { FunctionName } from "#shared/resources.ts";
import { type TableAccess, tableAccess } from "../../infra/grants.ts";
import { runAs } from "../../local/iam-guard.ts";
import { eventually } from "../support/stack.ts";
import { startWorld, textWebhook, type World } from "../support/world.ts";

let world: World;
let stack: World["stack"];

beforeAll(async () => {
  world = await startWorld();
  stack = world.stack;
  stack.expectIamRefusals();
});

afterAll(async () => {
  await world?.stop();
});

/** A call made as `fn` would be inside the local stack: through a client the functions create. */
function as<T>(fn: FunctionName, call: () => Promise<T>): Promise<T> {
  const { tableName, bucketName } = stack.resources;
  return runAs({ fn, tableName, bucketName }, call);
}

const db = () => makeDocumentClient(hooked(new DynamoDBClient({}), "dynamodb"));
const s3 = () =>
  hooked(new S3Client({ endpoint: process.env.AWS_ENDPOINT_URL_S3, forcePathStyle: true }), "s3");

describe("the local stack holds each function to its IAM grants", () => {
  it("refuses the webhook a write and a key prefix it was not granted, as AccessDeniedException", async () => {
    const TableName = stack.resources.tableName;
    const put = as("waba-webhook", () =>
      db().send(new PutCommand({ TableName, Item: { pk: "APP#1", sk: "APP" } })),
    );
    await expect(put).rejects.toMatchObject({
      name: "AccessDeniedException",
      $metadata: { httpStatusCode: 400 },
      message: expect.stringContaining("not authorized to perform: dynamodb:PutItem"),
    });
    const foreignPrefix = as("waba-webhook", () =>
      db().send(new GetCommand({ TableName, Key: { pk: "PORTAL#x.bitrix24.com", sk: "PORTAL" } })),
    );
    await expect(foreignPrefix).rejects.toMatchObject({ name: "AccessDeniedException" });
    const listing = as("waba-webhook", () =>
      db().send(
        new QueryCommand({
          TableName,
          IndexName: "gsi1",
          KeyConditionExpression: "gsi1pk = :t",
          ExpressionAttributeValues: { ":t": "TYPE#APP" },
        }),
      ),
    );
    await expect(listing).rejects.toMatchObject({ name: "AccessDeniedException" });
    const granted = await as("waba-webhook", () =>
      db().send(new GetCommand({ TableName, Key: { pk: "APP#1", sk: "APP" } })),
    );
    expect(granted.Item).toBeUndefined();
  });

  it("refuses S3 keys and actions outside a function's grant, as AccessDenied", async () => {
    const Bucket = stack.resources.bucketName;
    const outsideClaims = as("waba-webhook", () =>
      s3().send(new PutObjectCommand({ Bucket, Key: "media/x", Body: "x" })),
    );
    await expect(outsideClaims).rejects.toMatchObject({
      name: "AccessDenied",
      $metadata: { httpStatusCode: 403 },
    });
    await as("waba-webhook", () => s3().send(new PutObjectCommand({ Bucket, Key: "claims/x", Body: "x" })));
    const noBucket = as("outbound-worker", () =>
      s3().send(new GetObjectCommand({ Bucket, Key: "claims/x" })),
    );
    await expect(noBucket).rejects.toMatchObject({ name: "AccessDenied" });
    const read = await as("inbound-worker", () =>
      s3().send(new GetObjectCommand({ Bucket, Key: "claims/x" })),
    );
    expect(await read.Body?.transformToString()).toBe("x");
    // A presigned GET works in AWS only if its signer may GetObject: it is judged when signed.
    const media = new S3MediaStore(Bucket);
    await expect(as("waba-webhook", () => media.presignedGetUrl("m1", 60, "a.jpg"))).rejects.toMatchObject({
      name: "AccessDenied",
    });
    expect(await as("inbound-worker", () => media.presignedGetUrl("m1", 60, "a.jpg"))).toContain("m1");
  });

  it("holds the webhook's signed claim PUT (no S3 client) to the same grant, and the object lands", async () => {
    const Bucket = stack.resources.bucketName;
    const writer = new S3ClaimWriter(Bucket, {
      credentials: async () => ({ accessKeyId: "local", secretAccessKey: "local" }),
      region: async () => "us-east-1",
    });
    await expect(as("waba-webhook", () => writer.put("media/signed", "{}"))).rejects.toMatchObject({
      name: "AccessDenied",
    });
    await expect(as("outbound-worker", () => writer.put("claims/signed.json", "{}"))).rejects.toMatchObject({
      name: "AccessDenied",
    });
    await as("waba-webhook", () => writer.put("claims/signed.json", '{"claimed":true}'));
    const read = await as("inbound-worker", () =>
      s3().send(new GetObjectCommand({ Bucket, Key: "claims/signed.json" })),
    );
    expect(await read.Body?.transformToString()).toBe('{"claimed":true}');
  });

  it("runs every gateway invocation as its function: a narrowed grant turns the admin API's listing down", async () => {
    const admin = tableAccess["admin-api"] as { -readonly [K in keyof TableAccess]: TableAccess[K] };
    const { index } = admin;
    admin.index = false;
    try {
      const res = await stack.admin("GET", "/api/admin/apps");
      expect(res.status).toBe(500);
      expect(stack.logs.some((l) => l.startsWith("iam: admin-api refused QueryCommand"))).toBe(true);
    } finally {
      admin.index = index;
    }
    expect((await stack.admin("GET", "/api/admin/apps")).status).toBe(200);
  });

  it("runs every queue batch as its consumer: a narrowed grant turns the inbound worker's writes down", async () => {
    const worker = tableAccess["inbound-worker"] as { -readonly [K in keyof TableAccess]: TableAccess[K] };
    const { actions } = worker;
    worker.actions = actions.filter((a) => a !== "dynamodb:PutItem" && a !== "dynamodb:UpdateItem");
    try {
      const res = await world.postWebhook(
        textWebhook([{ id: "wamid.iam-guard-1", from: "16505550100", body: "hi" }]),
      );
      expect(res.status).toBe(200);
      await eventually(async () =>
        stack.logs.some((l) => l.startsWith("iam: inbound-worker refused")) ? true : undefined,
      );
    } finally {
      worker.actions = actions;
    }
  });
});
