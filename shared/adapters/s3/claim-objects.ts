import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { hooked } from "../aws-client-hooks.ts";

/**
 * The S3 calls of the claim store, in a module of their own so that `S3ClaimStore` can load it on
 * first use: named imports keep the bundle to these two commands.
 */
export function makeClaimObjects(bucket: string) {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3;
  // The local emulator serves buckets by path, not by virtual host.
  const s3 = hooked(new S3Client(endpoint ? { endpoint, forcePathStyle: true } : {}), "s3");
  return {
    async put(key: string, body: string): Promise<void> {
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/json" }),
      );
    },
    async get(key: string): Promise<string> {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!out.Body) throw new Error(`claim ${key} has no body`);
      return out.Body.transformToString("utf8");
    },
  };
}
