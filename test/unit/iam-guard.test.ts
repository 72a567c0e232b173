import { describe, expect, it } from "vitest";
import type { FunctionName } from "#shared/resources.ts";
import { refusal } from "../../local/iam-guard.ts";

const as = (fn: FunctionName) => ({ fn, tableName: "t-table", bucketName: "t-media" });
const key = (pk: string) => ({ TableName: "t-table", Key: { pk: { S: pk }, sk: { S: "X" } } });

describe("local IAM: the grants of infra/grants.ts, judged as AWS would", () => {
  it("holds the webhook to reads of its key prefixes", () => {
    expect(refusal(as("waba-webhook"), "dynamodb", "GetItemCommand", key("APP#1"))).toBeUndefined();
    expect(refusal(as("waba-webhook"), "dynamodb", "GetItemCommand", key("PORTAL#p"))).toContain(
      "not authorized to perform: dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/t-table",
    );
    expect(refusal(as("waba-webhook"), "dynamodb", "UpdateItemCommand", key("APP#1"))).toContain(
      "dynamodb:UpdateItem",
    );
    // Another table is no part of any grant.
    expect(
      refusal(as("admin-api"), "dynamodb", "GetItemCommand", { ...key("APP#1"), TableName: "other" }),
    ).toBeDefined();
  });

  it("reads a query's partition key from its key condition, by value or attribute name", () => {
    const query = (pk: string, expression = "pk = :pk", names?: Record<string, string>) => ({
      TableName: "t-table",
      KeyConditionExpression: expression,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ":pk": { S: pk }, ":s": { S: "A" } },
    });
    expect(refusal(as("waba-webhook"), "dynamodb", "QueryCommand", query("WABA#1"))).toBeUndefined();
    expect(refusal(as("waba-webhook"), "dynamodb", "QueryCommand", query("EVT#1"))).toBeDefined();
    expect(
      refusal(
        as("waba-webhook"),
        "dynamodb",
        "QueryCommand",
        query("EVT#1", "#k = :pk AND sk > :s", { "#k": "pk" }),
      ),
    ).toBeDefined();
    // The calling API reads by key only.
    expect(refusal(as("calling-api"), "dynamodb", "QueryCommand", query("PHONE#1"))).toContain(
      "dynamodb:Query",
    );
    const listing = { ...query("TYPE#APP", "gsi1pk = :pk"), IndexName: "gsi1" };
    expect(refusal(as("admin-api"), "dynamodb", "QueryCommand", listing)).toBeUndefined();
    expect(refusal(as("calling-api"), "dynamodb", "QueryCommand", listing)).toContain("/index/gsi1");
  });

  it("authorizes each item of a transaction as its own action, and grants scans to nobody and batches to no HTTP function", () => {
    const transact = (pk: string) => ({
      TransactItems: [{ Update: key("PHONE#1") }, { ConditionCheck: key(pk) }],
    });
    expect(refusal(as("admin-api"), "dynamodb", "TransactWriteItemsCommand", transact("WABA#1"))).toContain(
      "dynamodb:ConditionCheckItem",
    );
    expect(
      refusal(as("calling-api"), "dynamodb", "TransactWriteItemsCommand", {
        TransactItems: [{ Update: key("PHONE#1") }],
      }),
    ).toBeUndefined();
    expect(refusal(as("admin-api"), "dynamodb", "ScanCommand", { TableName: "t-table" })).toContain(
      "dynamodb:Scan",
    );
    expect(
      refusal(as("admin-api"), "dynamodb", "BatchWriteItemCommand", { RequestItems: { "t-table": [] } }),
    ).toContain("dynamodb:BatchWriteItem");
  });

  it("holds S3 calls to the function's actions and key prefix, multipart parts counting as PutObject", () => {
    const object = (Key: string) => ({ Bucket: "t-media", Key });
    expect(refusal(as("waba-webhook"), "s3", "PutObjectCommand", object("claims/e1"))).toBeUndefined();
    expect(refusal(as("waba-webhook"), "s3", "PutObjectCommand", object("media/m1"))).toContain(
      "s3:PutObject on resource: arn:aws:s3:::t-media/media/m1",
    );
    expect(refusal(as("waba-webhook"), "s3", "GetObjectCommand", object("claims/e1"))).toContain(
      "s3:GetObject",
    );
    expect(refusal(as("inbound-worker"), "s3", "UploadPartCommand", object("m1"))).toBeUndefined();
    expect(
      refusal(as("inbound-worker"), "s3", "PutObjectCommand", { Bucket: "other", Key: "m1" }),
    ).toBeDefined();
    expect(refusal(as("inbound-worker"), "s3", "DeleteObjectCommand", object("m1"))).toContain(
      "s3:DeleteObject",
    );
    expect(refusal(as("outbound-worker"), "s3", "GetObjectCommand", object("m1"))).toBeDefined();
  });

  it("lets the inbound worker abort the multipart upload of a media download that failed midway", () => {
    expect(
      refusal(as("inbound-worker"), "s3", "AbortMultipartUploadCommand", {
        Bucket: "t-media",
        Key: "m1",
        UploadId: "u",
      }),
    ).toBeUndefined();
  });

  it("lets the workers read and write customer aliases in batches, each key held to the grant", () => {
    const alias = (id: string) => ({ pk: { S: `ALIAS#waba:1#${id}` }, sk: { S: "ALIAS" } });
    const get = { RequestItems: { "t-table": { Keys: [alias("1"), alias("2")], ConsistentRead: true } } };
    const write = {
      RequestItems: { "t-table": [{ PutRequest: { Item: { ...alias("1"), customer: { S: "c" } } } }] },
    };
    for (const fn of ["inbound-worker", "outbound-worker"] as const) {
      expect(refusal(as(fn), "dynamodb", "BatchGetItemCommand", get)).toBeUndefined();
      expect(refusal(as(fn), "dynamodb", "BatchWriteItemCommand", write)).toBeUndefined();
    }
    expect(refusal(as("waba-webhook"), "dynamodb", "BatchGetItemCommand", get)).toContain(
      "dynamodb:BatchGetItem",
    );
    expect(refusal(as("admin-api"), "dynamodb", "BatchWriteItemCommand", write)).toContain(
      "dynamodb:BatchWriteItem",
    );
    const elsewhere = { RequestItems: { other: { Keys: [alias("1")] } } };
    expect(refusal(as("inbound-worker"), "dynamodb", "BatchGetItemCommand", elsewhere)).toContain(
      "table/other",
    );
  });

  it("lets the webhook count a number nobody set up, and write nothing else", () => {
    expect(refusal(as("waba-webhook"), "dynamodb", "UpdateItemCommand", key("UNROUTED#1"))).toBeUndefined();
    expect(
      refusal(as("waba-webhook"), "dynamodb", "PutItemCommand", {
        TableName: "t-table",
        Item: key("UNROUTED#1").Key,
      }),
    ).toBeDefined();
    expect(refusal(as("waba-webhook"), "dynamodb", "UpdateItemCommand", key("PHONE#1"))).toContain(
      "dynamodb:UpdateItem",
    );
    expect(refusal(as("waba-webhook"), "dynamodb", "GetItemCommand", key("UNROUTED#1"))).toContain(
      "dynamodb:GetItem",
    );
  });
});
