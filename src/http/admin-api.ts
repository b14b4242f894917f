import { z } from '@hono/zod-openapi';

/** The operators' REST API answers RFC 9457 problem documents (see error-handler). */
export const Problem = z.object({ type: z.string(), title: z.string(), status: z.number().int(), detail: z.string(), code: z.string() }).openapi('Problem');

/** An OpenAPI response of a problem document. */
export const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: Problem } } });

/** The refusals every admin route shares. */
export const adminProblems = {
  401: problem('No or invalid bearer token'),
  403: problem('The token lacks the admin scope'),
};

/** The refusal of an admin route given a bad id, paging value or filter. */
export const adminParamProblems = { 400: problem('A path or query parameter it does not take: an id that is no positive integer, a limit outside 1-500, an unknown state, a filter the list does not have') };

/** The refusals of every admin route that takes a JSON body. */
export const adminBodyProblems = {
  400: problem('Malformed JSON, or a body its schema refuses'),
  413: problem('Body larger than MAX_BODY_BYTES'),
  415: problem('Content-Type is not application/json'),
};

/**
 * Keyset paging of the admin lists: `before` = the last id of the previous page. A list's query is strict: a filter it
 * does not take (`status` for `state`) is a 400, not the whole list answered as if filtered.
 */
export const PageQuery = { limit: z.coerce.number().int().min(1).max(500).default(50), before: z.coerce.number().int().min(1).optional() };

/** A numeric id in the path. */
export const IdParam = z.object({ id: z.coerce.number().int().min(1) });
