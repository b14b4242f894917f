import type { Context } from 'hono';
import { DciError } from './errors.js';

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/** Reads a JSON object body: 415 for another content type, 400 for broken JSON or a non-object. */
export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  const type = c.req.header('content-type') ?? '';
  if (!JSON_TYPE.test(type)) {
    throw new DciError(415, 'err.request.bad', `content-type must be application/json, got ${type ? type.slice(0, 100) : 'none'}`);
  }
  const text = await c.req.text();
  if (text.trim() === '') throw new DciError(400, 'err.request.bad', 'request body is empty');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new DciError(400, 'err.request.bad', `body is not valid JSON: ${(e as Error).message.slice(0, 200)}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new DciError(400, 'err.request.bad', 'body must be a JSON object (the DCI envelope)');
  }
  return body as Record<string, unknown>;
}
