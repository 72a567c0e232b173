import type { ClaimStore } from "../../claim-check.ts";

type ClaimObjects = ReturnType<typeof import("./claim-objects.ts").makeClaimObjects>;

/**
 * Oversized queue messages in the media bucket (under `claims/`, expired with the bucket's lifecycle).
 * The inbound worker's: it reads claims back. The S3 client is loaded on first use. (The webhook only
 * writes claims, with `S3ClaimWriter`, and carries no S3 client.)
 */
export class S3ClaimStore implements ClaimStore {
  readonly #bucket: string;
  #objects: Promise<ClaimObjects> | undefined;

  constructor(bucket: string) {
    this.#bucket = bucket;
  }

  #load(): Promise<ClaimObjects> {
    this.#objects ??= import("./claim-objects.ts").then((m) => m.makeClaimObjects(this.#bucket));
    return this.#objects;
  }

  async put(key: string, body: string): Promise<void> {
    await (await this.#load()).put(key, body);
  }

  async get(key: string): Promise<string> {
    return (await this.#load()).get(key);
  }
}
