import { describe, expect, it } from "vitest";
import { s3Path, sha256Hex, signS3Request } from "#shared/adapters/s3/sigv4.ts";

/**
 * AWS's own worked example, "Example: PUT Object", at
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html: its example keys, time,
 * request and the signature AWS gives for them.
 */
const credentials = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const now = new Date("2013-05-24T00:00:00Z");
const body = "Welcome to Amazon S3.";

describe("S3 request signing (Signature Version 4, header-based)", () => {
  it("signs AWS's PUT Object example to the signature AWS documents", () => {
    const payloadHash = sha256Hex(body);
    expect(payloadHash).toBe("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    const headers = signS3Request(
      {
        method: "PUT",
        host: "examplebucket.s3.amazonaws.com",
        pathSegments: ["test$file.text"],
        headers: { Date: "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY" },
        payloadHash,
        region: "us-east-1",
        now,
      },
      credentials,
    );
    expect(headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, " +
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
    expect(headers["x-amz-date"]).toBe("20130524T000000Z");
    expect(headers["x-amz-content-sha256"]).toBe(payloadHash);
    // fetch sends the host itself; a second one would not be the one signed.
    expect(headers.host).toBeUndefined();
  });

  it("signs a session token, which a Lambda role's credentials always carry", () => {
    const request = {
      method: "PUT",
      host: "examplebucket.s3.amazonaws.com",
      pathSegments: ["claims", "a.json"],
      headers: {},
      payloadHash: sha256Hex(body),
      region: "us-east-1",
      now,
    };
    const plain = signS3Request(request, credentials);
    const withToken = signS3Request(request, { ...credentials, sessionToken: "token-1" });
    expect(withToken["x-amz-security-token"]).toBe("token-1");
    expect(withToken.authorization).toContain(
      "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,",
    );
    expect(withToken.authorization).not.toBe(plain.authorization);
  });

  it("encodes each path segment once, RFC 3986 style, keeping the slashes", () => {
    expect(s3Path(["claims", "test$file (1)!.json"])).toBe("/claims/test%24file%20%281%29%21.json");
  });
});
