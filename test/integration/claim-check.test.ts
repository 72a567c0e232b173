import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLAIM_KEY_PREFIX, CLAIM_THRESHOLD_BYTES } from "#shared/claim-check.ts";
import { getRuntime } from "#shared/runtime.ts";
import { eventually } from "../support/stack.ts";
import { startWorld, textWebhook, type World } from "../support/world.ts";

let world: World;

beforeAll(async () => {
  world = await startWorld();
});

afterAll(async () => {
  await world?.stop();
});

async function claimKeys(): Promise<string[]> {
  const s3 = new S3Client({ endpoint: process.env.AWS_ENDPOINT_URL_S3, forcePathStyle: true });
  const out = await s3.send(
    new ListObjectsV2Command({ Bucket: world.stack.resources.bucketName, Prefix: CLAIM_KEY_PREFIX }),
  );
  s3.destroy();
  return (out.Contents ?? []).map((o) => o.Key ?? "");
}

describe("events larger than SQS or DynamoDB take (claim check)", () => {
  // Sizes no real text reaches (Meta caps a text at 4096 characters), but flow replies and orders can
  // carry large JSON: the transport must not depend on the message type.
  it.each([
    ["over a tenth of SQS's 1 MiB batch", CLAIM_THRESHOLD_BYTES + 10_000, "wamid.claim-sqs"],
    ["over DynamoDB's 400 KB item as well", 450_000, "wamid.claim-dynamo"],
  ])("delivers an event %s through an S3 reference, once", async (_name, size, wamid) => {
    const before = await claimKeys();
    const body = `start ${"x".repeat(size)} end`;
    const res = await world.postWebhook(textWebhook([{ id: wamid, from: "15550001234", body }]));
    expect(res.status).toBe(200);
    const delivered = await eventually(async () =>
      world.bitrix.portal(world.memberId).messages.find((m) => m.message.id === wamid),
    );
    expect(String(delivered.message.text)).toContain(body);
    expect((await claimKeys()).length).toBe(before.length + 1);
    const { deadLetters } = await getRuntime();
    expect((await deadLetters.list()).items).toHaveLength(0);
  });

  it("sends small events inline, with no claim", async () => {
    const before = await claimKeys();
    const res = await world.postWebhook(
      textWebhook([{ id: "wamid.small", from: "15550001234", body: "hi" }]),
    );
    expect(res.status).toBe(200);
    await eventually(async () =>
      world.bitrix.portal(world.memberId).messages.find((m) => m.message.id === "wamid.small"),
    );
    expect(await claimKeys()).toEqual(before);
  });
});
