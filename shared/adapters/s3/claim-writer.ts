import type { Handler, HandlerExecutionContext, MiddlewareStack } from "@smithy/types";
import type { ClaimWriter } from "../../claim-check.ts";
import { hooked } from "../aws-client-hooks.ts";
import { type AwsCredentials, s3Path, sha256Hex, signS3Request } from "./sigv4.ts";

/** Well inside the webhook function's 10 s timeout. */
const CLAIM_PUT_TIMEOUT_MS = 5_000;

/** Where the writer gets what it signs with: the webhook passes its SQS client's resolved ones. */
export interface AwsSigningSource {
  readonly credentials: () => Promise<AwsCredentials>;
  readonly region: () => Promise<string>;
}

// biome-ignore lint/suspicious/noExplicitAny: the hooks' middleware, whatever its input and output types
type AnyMiddleware = (next: Handler<any, any>, context: HandlerExecutionContext) => Handler<any, any>;

/**
 * The webhook's claim PUT (one signed `fetch`, no S3 client): oversized events are rare, and the S3
 * client would cost the function about 180 KB and 7 ms of every cold start. The local stack's hooks
 * (its IAM check) see the call as a `PutObjectCommand`, as they see an S3 client's.
 */
export class S3ClaimWriter implements ClaimWriter {
  readonly #bucket: string;
  readonly #signing: AwsSigningSource;
  readonly #middleware: AnyMiddleware[] = [];
  /** Only `add`, in the order added: the hooks add one middleware each and read the command's input. */
  readonly middlewareStack: Pick<MiddlewareStack<object, object>, "add"> = {
    add: ((middleware: AnyMiddleware) => {
      this.#middleware.push(middleware);
    }) as MiddlewareStack<object, object>["add"],
  };

  constructor(bucket: string, signing: AwsSigningSource) {
    this.#bucket = bucket;
    this.#signing = signing;
    hooked(this, "s3");
  }

  async put(key: string, body: string): Promise<void> {
    const input = { Bucket: this.#bucket, Key: key, Body: body };
    const send: Handler<typeof input, object> = async (args) => {
      await this.#send(args.input.Key, args.input.Body);
      return { output: {}, response: {} };
    };
    const context = { commandName: "PutObjectCommand" } as HandlerExecutionContext;
    const handler = this.#middleware.reduceRight<Handler<typeof input, object>>(
      (next, middleware) => middleware(next, context),
      send,
    );
    await handler({ input });
  }

  async #send(key: string, body: string): Promise<void> {
    const [credentials, region] = await Promise.all([this.#signing.credentials(), this.#signing.region()]);
    const endpoint = process.env.AWS_ENDPOINT_URL_S3;
    // The local emulator serves buckets by path; AWS by virtual host (the stack's bucket names have no dots).
    const base = endpoint ? new URL(endpoint) : new URL(`https://${this.#bucket}.s3.${region}.amazonaws.com`);
    const pathSegments = [
      ...base.pathname.split("/").filter(Boolean).map(decodeURIComponent),
      ...(endpoint ? [this.#bucket] : []),
      ...key.split("/"),
    ];
    const payload = Buffer.from(body, "utf8");
    const headers = signS3Request(
      {
        method: "PUT",
        host: base.host,
        pathSegments,
        headers: { "content-type": "application/json", "content-length": String(payload.length) },
        payloadHash: sha256Hex(payload),
        region,
        now: new Date(),
      },
      credentials,
    );
    const response = await fetch(`${base.protocol}//${base.host}${s3Path(pathSegments)}`, {
      method: "PUT",
      headers,
      body: payload,
      // S3 answers a wrong region with a redirect: following it would hand the signed headers (and the
      // session token) to another host, so it is a refusal like any other. A hung PUT must leave the
      // webhook time to answer 500, so Meta sends the event again.
      redirect: "manual",
      signal: AbortSignal.timeout(CLAIM_PUT_TIMEOUT_MS),
    });
    const answer = await response.text();
    if (!response.ok) {
      const code = /<Code>([^<]*)<\/Code>/.exec(answer)?.[1] ?? "no error code";
      throw new Error(`S3 refused the claim PUT of ${key}: ${response.status} ${code}`);
    }
  }
}
