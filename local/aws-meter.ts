import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Counts every AWS call the local stack makes, by service, operation and key prefix (`INMSG`, `RATE`,
 * …), with DynamoDB's capacity units. It is a pass-through HTTP proxy in front of DynamoDB Local and
 * fauxqs: the product code and its SDK clients are untouched, and Lambda (which talks to AWS directly)
 * never has it. DynamoDB requests get `ReturnConsumedCapacity: TOTAL` added, so the emulator reports
 * units as AWS bills them; DynamoDB Local does not check request signatures, and the SDK ignores the
 * extra field in the answer.
 */
export interface AwsCall {
  readonly service: "dynamodb" | "sqs" | "s3";
  readonly op: string;
  /** Key prefix of each item touched (DynamoDB), e.g. `INMSG`, `RATE`; empty for other services. */
  readonly prefixes: readonly string[];
  /** Items read / written by the request (DynamoDB; a batch or transaction counts each item). */
  readonly reads: number;
  readonly writes: number;
  readonly readUnits: number;
  readonly writeUnits: number;
  /** SQS ReceiveMessage: messages returned (0 = an empty poll). */
  readonly received?: number;
  readonly status: number;
}

export interface AwsMeter {
  /** Endpoints to hand the local stack instead of the emulators' own. */
  readonly endpoints: { dynamoEndpoint: string; awsEndpoint: string };
  calls: AwsCall[];
  stop(): Promise<void>;
}

const READ_OPS: Record<string, (body: Json) => number> = {
  GetItem: () => 1,
  Query: () => 1,
  Scan: () => 1,
  BatchGetItem: (b) =>
    Object.values((b.RequestItems ?? {}) as Record<string, { Keys?: unknown[] }>).reduce(
      (n, t) => n + (t.Keys?.length ?? 0),
      0,
    ),
  TransactGetItems: (b) => ((b.TransactItems as unknown[]) ?? []).length,
};

const WRITE_OPS: Record<string, (body: Json) => number> = {
  PutItem: () => 1,
  UpdateItem: () => 1,
  DeleteItem: () => 1,
  BatchWriteItem: (b) =>
    Object.values((b.RequestItems ?? {}) as Record<string, unknown[]>).reduce((n, t) => n + t.length, 0),
  TransactWriteItems: (b) => ((b.TransactItems as unknown[]) ?? []).length,
};

// biome-ignore lint/suspicious/noExplicitAny: DynamoDB's JSON wire format, read field by field
type Json = Record<string, any>;

export async function startAwsMeter(upstream: {
  dynamoEndpoint: string;
  awsEndpoint: string;
}): Promise<AwsMeter> {
  const meter: AwsMeter = { endpoints: { dynamoEndpoint: "", awsEndpoint: "" }, calls: [], stop: stopAll };
  const servers = [
    await proxy(upstream.dynamoEndpoint, (req, body, answer, status) =>
      meter.calls.push(dynamoCall(req, body, answer, status)),
    ),
    await proxy(upstream.awsEndpoint, (req, body, answer, status) =>
      meter.calls.push(sqsOrS3Call(req, body, answer, status)),
    ),
  ];
  const url = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  Object.assign(meter.endpoints, {
    dynamoEndpoint: url(servers[0] as Server),
    awsEndpoint: url(servers[1] as Server),
  });
  async function stopAll(): Promise<void> {
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
  return meter;
}

type Observe = (req: IncomingMessage, body: Buffer, answer: Buffer, status: number) => void;

async function proxy(target: string, observe: Observe): Promise<Server> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Buffer = Buffer.concat(chunks);
    if (String(req.headers["x-amz-target"] ?? "").startsWith("DynamoDB_")) body = withCapacity(body);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || k === "content-length" || k === "host" || k === "connection") continue;
      headers.set(k, Array.isArray(v) ? v.join(",") : v);
    }
    try {
      const upstream = await fetch(new URL(req.url ?? "/", target), {
        method: req.method,
        headers,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
        redirect: "manual",
      });
      const answer = Buffer.from(await upstream.arrayBuffer());
      observe(req, body, answer, upstream.status);
      const out: Record<string, string> = {};
      upstream.headers.forEach((v, k) => {
        if (k !== "content-length" && k !== "transfer-encoding" && k !== "content-encoding") out[k] = v;
      });
      res.writeHead(upstream.status, { ...out, "content-length": String(answer.length) });
      res.end(req.method === "HEAD" ? undefined : answer);
    } catch (error) {
      res.writeHead(502).end(String(error));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return server;
}

function withCapacity(body: Buffer): Buffer {
  try {
    const json = JSON.parse(body.toString("utf8")) as Json;
    json.ReturnConsumedCapacity ??= "TOTAL";
    return Buffer.from(JSON.stringify(json));
  } catch {
    return body;
  }
}

const prefixOf = (key: Json | undefined) => {
  const pk = key?.pk?.S;
  return typeof pk === "string" ? pk.split("#")[0] || pk : "?";
};

function dynamoPrefixes(op: string, b: Json): string[] {
  switch (op) {
    case "GetItem":
    case "UpdateItem":
    case "DeleteItem":
      return [prefixOf(b.Key)];
    case "PutItem":
      return [prefixOf(b.Item)];
    case "Query":
    case "Scan": {
      const first = Object.values((b.ExpressionAttributeValues ?? {}) as Json)[0] as Json | undefined;
      return [typeof first?.S === "string" ? (first.S.split("#")[0] ?? "?") : "?"];
    }
    case "TransactWriteItems":
      return ((b.TransactItems ?? []) as Json[]).map((t) => {
        const inner = (t.Put ?? t.Update ?? t.Delete ?? t.ConditionCheck ?? {}) as Json;
        return prefixOf(inner.Item ?? inner.Key);
      });
    case "BatchGetItem":
      return Object.values((b.RequestItems ?? {}) as Record<string, { Keys?: Json[] }>).flatMap((t) =>
        (t.Keys ?? []).map(prefixOf),
      );
    case "BatchWriteItem":
      return Object.values((b.RequestItems ?? {}) as Record<string, Json[]>).flatMap((t) =>
        t.map((w) => prefixOf(w.PutRequest?.Item ?? w.DeleteRequest?.Key)),
      );
    default:
      return [];
  }
}

function dynamoCall(req: IncomingMessage, body: Buffer, answer: Buffer, status: number): AwsCall {
  const target = String(req.headers["x-amz-target"] ?? "");
  const op = target.slice(target.indexOf(".") + 1);
  const b = parse(body);
  const a = parse(answer);
  const reads = READ_OPS[op]?.(b) ?? 0;
  const writes = WRITE_OPS[op]?.(b) ?? 0;
  const capacity = ([] as Json[]).concat(a.ConsumedCapacity ?? []);
  const units = capacity.reduce((n, c) => n + Number(c.CapacityUnits ?? 0), 0);
  // A refused conditional write is billed too (at least one unit), but its answer carries no capacity.
  const writeUnits = writes ? Math.max(units, status === 200 ? 0 : writes) : 0;
  return {
    service: "dynamodb",
    op,
    prefixes: dynamoPrefixes(op, b),
    reads,
    writes,
    readUnits: reads ? units : 0,
    writeUnits,
    status,
  };
}

function sqsOrS3Call(req: IncomingMessage, body: Buffer, answer: Buffer, status: number): AwsCall {
  const target = String(req.headers["x-amz-target"] ?? "");
  const zero = { prefixes: [], reads: 0, writes: 0, readUnits: 0, writeUnits: 0, status };
  if (target.startsWith("AmazonSQS.")) {
    const op = target.slice("AmazonSQS.".length);
    const received =
      op === "ReceiveMessage" ? ((parse(answer).Messages as unknown[]) ?? []).length : undefined;
    return { service: "sqs", op, ...zero, ...(received === undefined ? {} : { received }) };
  }
  const url = new URL(req.url ?? "/", "http://x");
  // Path-style S3: /<bucket>/<key>; a query-only request on the bucket is a list or a bucket operation.
  const hasKey = url.pathname.split("/").filter(Boolean).length > 1;
  const op = `${req.method} ${hasKey ? "object" : "bucket"}`;
  void body;
  return { service: "s3", op, ...zero };
}

function parse(buffer: Buffer): Json {
  try {
    return JSON.parse(buffer.toString("utf8")) as Json;
  } catch {
    return {};
  }
}
