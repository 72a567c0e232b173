import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { MediaStore } from "../../ports/conversations.ts";
import { hooked } from "../aws-client-hooks.ts";

/** WhatsApp media kept in the media bucket (lifecycle-expired) and handed to Bitrix24 as presigned URLs. */
export class S3MediaStore implements MediaStore {
  readonly #s3: S3Client;
  readonly #bucket: string;

  constructor(bucket: string) {
    const endpoint = process.env.AWS_ENDPOINT_URL_S3;
    // The local emulator serves buckets by path, not by virtual host.
    this.#s3 = hooked(new S3Client(endpoint ? { endpoint, forcePathStyle: true } : {}), "s3");
    this.#bucket = bucket;
  }

  /**
   * A file that fits one part goes in one PutObject; a larger one as a multipart upload of PART_BYTES
   * parts, read one part at a time — memory stays at one part whatever the file's size, and no length
   * needs to be known up front. A failing source aborts the upload: no partial object is left.
   */
  async put(key: string, body: Readable | Uint8Array, contentType: string): Promise<void> {
    const parts = body instanceof Uint8Array ? single(body) : partsOf(body, PART_BYTES);
    const first = await parts.next();
    const second = first.done ? first : await parts.next();
    if (second.done) {
      const bytes = first.done ? Buffer.alloc(0) : first.value;
      await this.#s3.send(
        new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: bytes, ContentType: contentType }),
      );
      return;
    }
    const target = { Bucket: this.#bucket, Key: key };
    const { UploadId } = await this.#s3.send(
      new CreateMultipartUploadCommand({ ...target, ContentType: contentType }),
    );
    try {
      const done: { ETag?: string; PartNumber: number }[] = [];
      let next: IteratorResult<Buffer> = first;
      for (let PartNumber = 1; !next.done; PartNumber++) {
        const { ETag } = await this.#s3.send(
          new UploadPartCommand({ ...target, UploadId, PartNumber, Body: next.value }),
        );
        done.push({ ETag, PartNumber });
        next = PartNumber === 1 ? second : await parts.next();
      }
      await this.#s3.send(
        new CompleteMultipartUploadCommand({ ...target, UploadId, MultipartUpload: { Parts: done } }),
      );
    } catch (error) {
      await this.#s3.send(new AbortMultipartUploadCommand({ ...target, UploadId })).catch(() => undefined);
      throw error;
    }
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

/** S3's smallest part (all but the last): the least memory a multipart upload can hold. */
const PART_BYTES = 5 * 1024 * 1024;

async function* single(bytes: Uint8Array): AsyncGenerator<Buffer> {
  yield Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The stream cut into buffers of exactly `size` bytes (the last one shorter). */
async function* partsOf(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    let rest = chunk as Buffer;
    while (length + rest.length >= size) {
      const take = size - length;
      pending.push(rest.subarray(0, take));
      yield Buffer.concat(pending);
      rest = rest.subarray(take);
      pending = [];
      length = 0;
    }
    if (rest.length > 0) {
      pending.push(rest);
      length += rest.length;
    }
  }
  if (length > 0) yield Buffer.concat(pending);
}
