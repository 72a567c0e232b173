import type { TestProject } from "vitest/node";
import { startEmulators } from "../../local/emulators.ts";

declare module "vitest" {
  export interface ProvidedContext {
    emulators: { dynamoEndpoint: string; awsEndpoint: string };
  }
}

/**
 * One DynamoDB Local and one SQS/S3 emulator for the whole run (in memory); each test file provisions
 * its own table, queues and bucket under a random prefix, so files never see each other's data.
 */
export default async function setup(project: TestProject) {
  const major = Number(process.versions.node.split(".")[0]);
  if (major !== 24)
    throw new Error(`Tests must run on Node 24 (Lambda's nodejs24.x), not ${process.version}`);
  const emulators = await startEmulators();
  project.provide("emulators", {
    dynamoEndpoint: emulators.dynamoEndpoint,
    awsEndpoint: emulators.awsEndpoint,
  });
  return async () => {
    await emulators.stop();
  };
}
