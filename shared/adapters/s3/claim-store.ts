import type { S3Client } from "@aws-sdk/client-s3";
import type { ClaimStore } from "../../claim-check.ts";

/**
 * Oversized queue messages in the media bucket (under `claims/`, expired with the bucket's lifecycle).
 * The S3 client is loaded on first use: the webhook needs it only for the rare oversized event, and a
 * lazily evaluated module costs its cold start nothing.
 */
export class S3ClaimStore implements ClaimStore {
  readonly #bucket: string;
  #client: Promise<{ s3: S3Client; sdk: typeof import("@aws-sdk/client-s3") }> | undefined;

  constructor(bucket: string) {
    this.#bucket = bucket;
  }

  #s3() {
    this.#client ??= import("@aws-sdk/client-s3").then((sdk) => {
      const endpoint = process.env.AWS_ENDPOINT_URL_S3;
      // The local emulator serves buckets by path, not by virtual host.
      return { sdk, s3: new sdk.S3Client(endpoint ? { endpoint, forcePathStyle: true } : {}) };
    });
    return this.#client;
  }

  async put(key: string, body: string): Promise<void> {
    const { s3, sdk } = await this.#s3();
    await s3.send(
      new sdk.PutObjectCommand({
        Bucket: this.#bucket,
        Key: key,
        Body: body,
        ContentType: "application/json",
      }),
    );
  }

  async get(key: string): Promise<string> {
    const { s3, sdk } = await this.#s3();
    const out = await s3.send(new sdk.GetObjectCommand({ Bucket: this.#bucket, Key: key }));
    if (!out.Body) throw new Error(`claim ${key} has no body`);
    return out.Body.transformToString("utf8");
  }
}
