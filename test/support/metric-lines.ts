/**
 * Collects the embedded-metric-format lines the functions write to stdout (what CloudWatch Logs turns
 * into metrics), while still letting every line through.
 */
export function captureMetricLines(): { readonly lines: () => Record<string, unknown>[]; stop(): void } {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    chunks.push(String(chunk));
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
  return {
    lines: () =>
      chunks
        .flatMap((chunk) => chunk.split("\n"))
        .filter((line) => line.includes('"_aws"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: () => {
      process.stdout.write = write;
    },
  };
}

/** The sum of one metric over the captured lines. */
export function metricSum(lines: Record<string, unknown>[], name: string): number {
  return lines.reduce((sum, line) => sum + (typeof line[name] === "number" ? (line[name] as number) : 0), 0);
}
