/**
 * One 100 MB transfer in a process of its own, so its memory is all this file's: `outbound` streams an
 * operator file from a URL to Meta's upload, `inbound` streams a WhatsApp media file from Meta into S3.
 * Prints `{"baselineMb", "peakMb"}` (resident set size) as one JSON line. Run by bench/memory.ts.
 */

import { GraphClient } from "#shared/adapters/meta-graph/client.ts";
import { S3MediaStore } from "#shared/adapters/s3/media-store.ts";
import { makeSafeFetch } from "#shared/adapters/safe-fetch.ts";

const [mode, graphUrl, fileUrl, bucket] = process.argv.slice(2);
const MAX = 100 * 1024 * 1024;
const target = { accessToken: "bench-token", graphApiVersion: "v25.0" };
const fromOutside = makeSafeFetch({ allowLoopback: true });
const graph = new GraphClient({ baseUrl: graphUrl ?? "", timeoutMs: 60_000, fromOutside });
const media = new S3MediaStore(bucket ?? "");

const mb = (bytes: number) => bytes / 1024 / 1024;
globalThis.gc?.();
await new Promise((r) => setTimeout(r, 200));
const baseline = process.memoryUsage.rss();
let peak = baseline;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
}, 5);

if (mode === "outbound") {
  const response = await fromOutside(fileUrl ?? "", {});
  await graph.uploadMedia(
    "bench-phone",
    { body: response.bodyUpTo(MAX), mimeType: "application/pdf", fileName: "bench.pdf" },
    target,
  );
} else {
  const info = await graph.getMedia("bench-media", target);
  const { body } = await graph.download(info.url, target, MAX);
  await media.put("bench/media.pdf", body, "application/pdf");
}
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage.rss());
console.log(JSON.stringify({ baselineMb: mb(baseline), peakMb: mb(peak) }));
