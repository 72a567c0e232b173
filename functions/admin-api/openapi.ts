import type { ZodType } from "zod";
import * as z from "zod";
import { errorBody } from "#shared/schemas/admin.ts";
import type { AdminRoute } from "./routes.ts";

type Schema = Record<string, unknown>;

const schemaOf = (s: ZodType, io: "input" | "output"): Schema => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(s, { io, unrepresentable: "any" }) as Schema;
  return rest;
};

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});

/**
 * The OpenAPI 3.1 document of the admin API, generated from the same route table and zod schemas that
 * serve and validate the requests, so it cannot drift from what the API does.
 */
/** Routes of any use-case set (the calling routes have their own): only their descriptions are read. */
export function buildOpenApiDocument(routes: readonly AdminRoute<never>[], serverUrl: string): Schema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    const query = route.list
      ? [
          { name: "cursor", in: "query", required: false, schema: { type: "string" } },
          {
            name: "limit",
            in: "query",
            required: false,
            schema: { type: "integer", minimum: 1, maximum: 100 },
          },
        ]
      : [];
    let body: Schema | undefined;
    if (route.response) {
      const one = schemaOf(route.response, "output");
      body = route.list
        ? {
            type: "object",
            required: ["items"],
            properties: { items: { type: "array", items: one }, nextCursor: { type: "string" } },
          }
        : one;
    }
    const pathItem = paths[route.path] ?? {};
    paths[route.path] = pathItem;
    const operation: Record<string, unknown> = {
      summary: route.summary,
      tags: [route.tag],
      operationId: `${route.method.toLowerCase()}${route.path
        .replace(/\/api\/admin|[{}]/g, "")
        .replace(/\/(\w)/g, (_, c: string) => c.toUpperCase())
        .replace(/\W/g, "")}`,
      parameters: [...params, ...query],
      responses: {
        [String(route.status)]: body
          ? { description: "OK", content: { "application/json": { schema: body } } }
          : { description: "No content" },
        ...Object.fromEntries(
          (route.alsoAnswers ?? []).map((also) => [
            String(also.status),
            body
              ? { description: also.description, content: { "application/json": { schema: body } } }
              : { description: also.description },
          ]),
        ),
        "400": errorResponse("Invalid input; zod issues in error.details"),
        "401": errorResponse("Missing or wrong bearer token"),
        "404": errorResponse("Not found"),
        "409": errorResponse("Conflict"),
      },
    };
    if (route.body) {
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: schemaOf(route.body, "input") } },
      };
    }
    pathItem[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "separator-waba admin API",
      version: "1",
      description: "Configure Meta apps, WhatsApp Business Accounts, Bitrix24 portals and phone numbers.",
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: { Error: schemaOf(errorBody, "output") },
    },
    paths,
  };
}
