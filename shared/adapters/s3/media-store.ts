import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { MediaStore } from "../../ports/conversations.ts";

/** WhatsApp media kept in the media bucket (lifecycle-expired) and handed to Bitrix24 as presigned URLs. */
export class S3MediaStore implements MediaStore {
  readonly #s3: S3Client;
  readonly #bucket: string;

  constructor(bucket: string) {
    const endpoint = process.env.AWS_ENDPOINT_URL_S3;
    // The local emulator serves buckets by path, not by virtual host.
    this.#s3 = new S3Client(endpoint ? { endpoint, forcePathStyle: true } : {});
    this.#bucket = bucket;
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    await this.#s3.send(
      new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: bytes, ContentType: contentType }),
    );
  }

  presignedGetUrl(key: string, expiresInSeconds: number, fileName: string): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.#bucket,
      Key: key,
      ResponseContentDisposition: `attachment; filename*=UTF-8''${encodeURIComponent(fileName)}`,
    });
    return getSignedUrl(this.#s3, command, { expiresIn: expiresInSeconds });
  }
}
