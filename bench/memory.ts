import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { startSqsS3Emulator } from "../local/emulators.ts";
import { startMetaGraphFake } from "../test/fakes/meta-graph.ts";

/** WhatsApp's largest file, 100 MB: what one transfer may hold at most. */
const FILE_BYTES = 100 * 1000 * 1000;
const TARGET_MB = 64;

/**
 * Peak resident memory over the process's baseline while a 100 MB file goes through, each way: an
 * operator file from its link to Meta's upload, and a customer's media from Meta into S3 (the
 * emulator). The transfer runs in a child process; the servers it talks to run here.
 */
export async function memoryBench(): Promise<void> {
  console.log(`\nPeak memory moving one ${FILE_BYTES / 1e6} MB file (RSS over the process's baseline)`);
  const chunk = Buffer.alloc(256 * 1024, 7);
  // The operator's file: served in chunks without Content-Length, as a proxy might.
  const files = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/pdf" });
    let left = FILE_BYTES;
    const pump = () => {
      while (left > 0) {
        const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= part.length;
        if (!res.write(part)) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => files.listen(0, "127.0.0.1", r));
  const meta = await startMetaGraphFake();
  meta.addToken("bench-token");
  meta.addMedia("bench-media", { mimeType: "application/pdf", bytes: Buffer.alloc(FILE_BYTES, 3) });
  const s3 = await startSqsS3Emulator();
  const env = {
    ...process.env,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    AWS_ENDPOINT_URL_S3: s3.endpoint,
  };
  await new S3Client({
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  }).send(new CreateBucketCommand({ Bucket: "bench-media" }));
  try {
    const fileUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}/bench.pdf`;
    for (const [mode, label] of [
      ["outbound", "operator file → Meta upload"],
      ["inbound", "Meta media → S3"],
    ] as const) {
      // Asynchronously: the servers it talks to run in this process's event loop.
      const { stdout: out } = await promisify(execFile)(
        process.execPath,
        [
          "--expose-gc",
          new URL("./memory-transfer.ts", import.meta.url).pathname,
          mode,
          meta.url,
          fileUrl,
          "bench-media",
        ],
        { env, maxBuffer: 1024 * 1024 },
      );
      const { baselineMb, peakMb } = JSON.parse(String(out).trim().split("\n").at(-1) ?? "{}");
      console.log(
        `  ${label.padEnd(30)} +${(peakMb - baselineMb).toFixed(1).padStart(5)} MB over ${baselineMb.toFixed(0)} MB baseline (target ≤ ${TARGET_MB} MB)`,
      );
    }
  } finally {
    files.closeAllConnections();
    await new Promise((r) => files.close(r));
    await meta.close();
    await s3.stop();
  }
}
