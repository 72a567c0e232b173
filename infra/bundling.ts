/**
 * How every function is bundled — by the CDK stack for deployment and by `npm run bench` for measuring,
 * so the sizes the benchmark prints are the sizes that deploy.
 */
export const bundling = {
  format: "esm",
  platform: "node",
  target: "node24",
  minify: true,
  keepNames: true,
  // No source maps: they added 11–17 MB and 15–55 ms to a cold start; see README, Operations.
  sourcemap: false,
  // ES module builds of the AWS SDK tree-shake; their CommonJS builds do not (415 KB vs 627 KB for the webhook).
  mainFields: ["module", "main"],
  // Bundled CommonJS dependencies still call require(); ESM output has none of its own.
  banner: "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
} as const;
