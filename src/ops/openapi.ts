import type { OpenAPIHono } from '@hono/zod-openapi';
import { dciSchemas } from '../dci/envelope/schemas.js';
import type { AppEnv } from '../http/context.js';

/** Component name of each JSON Schema file (its `title`). */
const componentName = (file: string) => String(dciSchemas[file]?.title ?? file.replace('.schema.json', ''));

/** JSON Schema (draft-07) -> OpenAPI 3.0 schema object: file $refs become component refs, `const` becomes `enum`. */
function toOpenApi(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toOpenApi);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$schema' || k === '$id') continue;
    if (k === '$ref' && typeof v === 'string' && v.endsWith('.schema.json')) out.$ref = `#/components/schemas/${componentName(v)}`;
    else if (k === 'const') out.enum = [v];
    else out[k] = toOpenApi(v);
  }
  return out;
}

export function registerDciSchemas(app: OpenAPIHono<AppEnv>): void {
  for (const [file, schema] of Object.entries(dciSchemas)) {
    app.openAPIRegistry.registerComponent('schemas', componentName(file), toOpenApi(schema) as never);
  }
}

export const schemaRef = (file: string) => ({ $ref: `#/components/schemas/${componentName(file)}` });

/** An OpenAPI response of a DCI error body (DIGEST 8), as the DCI routes and DR assessments refuse. */
export const dciErrorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: schemaRef('error-body.schema.json') } },
});

/** The documented error responses every DCI route shares (DIGEST 8). */
export const dciErrorResponses = {
  400: dciErrorResponse('Malformed JSON or envelope (`err.request.bad`), unsupported version (`err.version.not_supported`)'),
  401: dciErrorResponse('Missing, invalid or expired bearer token (`err.request.unauthorized`), with `WWW-Authenticate`'),
  403: dciErrorResponse('Token lacks the scope (`err.request.forbidden`) or `header.sender_id` is not the token\'s client (`err.sender_id.invalid`)'),
  413: dciErrorResponse('Body larger than MAX_BODY_BYTES (`err.request.bad`)'),
  415: dciErrorResponse('Content-Type is not application/json (`err.request.bad`)'),
  500: dciErrorResponse('Unexpected failure (`err.service.unavailable`); no detail is disclosed'),
};

/** Documents one DCI endpoint (POST, JSON envelope in, JSON out) in the OpenAPI document. */
export function documentDciEndpoint(
  app: OpenAPIHono<AppEnv>,
  endpoint: { path: string; tag: string; summary: string; description: string; request: string; responses: Record<number, { description: string; schema: string }> },
): void {
  const responses: Record<string, unknown> = { ...dciErrorResponses };
  for (const [status, r] of Object.entries(endpoint.responses)) {
    responses[status] = { description: r.description, content: { 'application/json': { schema: schemaRef(r.schema) } } };
  }
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: endpoint.path,
    tags: [endpoint.tag],
    summary: endpoint.summary,
    description: endpoint.description,
    security: [{ bearerAuth: [] }],
    request: { body: { required: true, content: { 'application/json': { schema: schemaRef(endpoint.request) } } } },
    responses: responses as never,
  });
}
