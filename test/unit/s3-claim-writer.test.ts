import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { S3ClaimWriter } from "#shared/adapters/s3/claim-writer.ts";

// S3 may answer a request that reached the wrong location with a temporary redirect to another endpoint
// ("Request routing" / "Request redirection and the REST API",
// https://docs.aws.amazon.com/AmazonS3/latest/API/RESTRedirect.html; since 2019 new regions answer 400).
const servers: Server[] = [];
const previousEndpoint = process.env.AWS_ENDPOINT_URL_S3;

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  process.env.AWS_ENDPOINT_URL_S3 = previousEndpoint;
  if (previousEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_S3;
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe("the webhook's claim PUT", () => {
  it("does not follow S3's redirect with its signed headers", async () => {
    const reachedElsewhere: string[] = [];
    const elsewhere = await listen((req, res) => {
      reachedElsewhere.push(String(req.headers["x-amz-security-token"] ?? "no token"));
      res.writeHead(200).end();
    });
    process.env.AWS_ENDPOINT_URL_S3 = await listen((req, res) => {
      req.resume();
      res
        .writeHead(307, { location: `${elsewhere}${req.url}`, "content-type": "application/xml" })
        .end("<Error><Code>TemporaryRedirect</Code></Error>");
    });
    const writer = new S3ClaimWriter("claims-bucket", {
      credentials: async () => ({
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: "secret",
        sessionToken: "token",
      }),
      region: async () => "us-east-1",
    });
    await expect(writer.put("claims/abc.json", "{}")).rejects.toThrow(/307 TemporaryRedirect/);
    expect(reachedElsewhere).toEqual([]);
  });
});
