import type { MiddlewareStack } from "@smithy/types";

/** The AWS services whose clients the functions create: the table and the media bucket. */
export type AwsService = "dynamodb" | "s3";

export interface HookableClient {
  // biome-ignore lint/suspicious/noExplicitAny: every client's stack, whatever its input and output types
  readonly middlewareStack: Pick<MiddlewareStack<any, any>, "add">;
}

type ClientHook = (client: HookableClient, service: AwsService) => void;

const hooks: ClientHook[] = [];

/**
 * Lets the local stack add middleware to every DynamoDB and S3 client the functions create (it refuses
 * the calls a function's IAM grants would refuse in AWS). Nothing registers one in Lambda.
 */
export function onAwsClientCreated(hook: ClientHook): void {
  hooks.push(hook);
}

/** Passes a newly created client through the registered hooks (none in Lambda). */
export function hooked<T extends HookableClient>(client: T, service: AwsService): T {
  for (const hook of hooks) hook(client, service);
  return client;
}
