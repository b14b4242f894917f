import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { isTransactionConflict } from '../db/client.js';
import { errorBody } from '../dci/envelope/builder.js';
import type { AppEnv } from './context.js';
import { DciError } from './errors.js';

/** Turns every thrown error into a DCI error body (DIGEST 8); never a stack trace or SQL text. */
export const handleError: ErrorHandler<AppEnv> = (err, c) => {
  if (err instanceof DciError) return respond(c, err);
  const code = (err as { code?: unknown }).code;
  // PostgreSQL query_canceled (statement_timeout): the search took too long, the server is fine.
  if (code === '57014') {
    return respond(c, new DciError(504, 'err.request.timeout', 'the query took longer than the server allows; narrow the search'));
  }
  // character_not_in_repertoire / untranslatable_character: a NUL (U+0000) PostgreSQL text or jsonb cannot hold, from
  // a query parameter (JSON bodies are refused up front: assertStorableJson).
  if (code === '22021' || code === '22P05') {
    return respond(c, new DciError(400, 'err.request.bad', 'a value contains a character that cannot be stored (U+0000)'));
  }
  // A deadlock or serialization failure that outlived the retries: nothing was written, the client may send it again.
  if (isTransactionConflict(err)) {
    return respond(c, new DciError(503, 'err.service.unavailable', 'the request conflicted with concurrent changes and was not applied; send it again', { 'retry-after': '1' }));
  }
  if (err instanceof HTTPException && err.status < 500) {
    return respond(c, new DciError(err.status === 413 || err.status === 415 ? err.status : 400, 'err.request.bad', err.message || 'bad request'));
  }
  c.get('log')?.error({ err: { name: err.name, message: err.message, stack: err.stack } }, 'unhandled error');
  return respond(c, new DciError(500, 'err.service.unavailable', 'internal error'));
};

export const handleNotFound: NotFoundHandler<AppEnv> = (c) =>
  respond(c, new DciError(404, 'err.request.not_found', `no route for ${c.req.method} ${c.req.path}`));

function respond(c: Context<AppEnv>, err: DciError) {
  for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
  // The rest of an oversized body was never read: the connection cannot carry another request.
  if (err.httpStatus === 413) c.header('connection', 'close');
  c.header('cache-control', 'no-store');
  if (c.req.path.startsWith(REST_PREFIX)) {
    // The operators' REST API answers RFC 9457 problem documents; `code` keeps the DCI code for log correlation.
    const problem = { type: 'about:blank', title: TITLES[err.httpStatus] ?? 'Error', status: err.httpStatus, detail: err.message, code: err.code };
    return c.body(JSON.stringify(problem), err.httpStatus, { 'content-type': 'application/problem+json' });
  }
  return c.json(errorBody(err.code, err.message), err.httpStatus);
}

const REST_PREFIX = '/admin/';
const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
};
