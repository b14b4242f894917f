import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { DciError } from './errors.js';

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

const tooLarge = (maxBytes: number) => new DciError(413, 'err.request.bad', `request body exceeds ${maxBytes} bytes`);

/**
 * The request body as text, at most `maxBytes` (413 beyond, also for chunked bodies without a length: reading stops
 * at the limit). Reads the Node request stream directly: building a WHATWG Request for the body costs more than the
 * registry lookup it carries on the hot path.
 */
export async function readBodyText(c: Context, maxBytes: number): Promise<string> {
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming) {
    const text = await c.req.text();
    if (Buffer.byteLength(text) > maxBytes) throw tooLarge(maxBytes);
    return text;
  }
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        incoming.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size).toString('utf8'));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new DciError(400, 'err.request.bad', `request body could not be read: ${e.message.slice(0, 100)}`));
    };
    const cleanup = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
  });
}

/**
 * Reads a JSON object body, and the text as received (signatures are verified over it): 415 for another content
 * type, 400 for broken JSON or a non-object, 413 when too large.
 */
export async function readJsonObject(c: Context, maxBytes: number): Promise<{ body: Record<string, unknown>; text: string }> {
  const type = c.req.header('content-type') ?? '';
  if (!JSON_TYPE.test(type)) {
    throw new DciError(415, 'err.request.bad', `content-type must be application/json, got ${type ? type.slice(0, 100) : 'none'}`);
  }
  // Read as UTF-8 bytes as they come: a compressed or UTF-16 body was refused as "not valid JSON" over its raw bytes.
  const charset = CHARSET.exec(type)?.[1];
  if (charset && !/^utf-?8$/i.test(charset)) throw new DciError(415, 'err.request.bad', `charset ${charset.slice(0, 40)} is not accepted: JSON is sent as utf-8 (RFC 8259 8.1)`);
  const coding = c.req.header('content-encoding')?.trim();
  if (coding && coding.toLowerCase() !== 'identity') {
    throw new DciError(415, 'err.request.bad', `content-encoding ${coding.slice(0, 40)} is not accepted: send the body uncompressed`);
  }
  const text = await readBodyText(c, maxBytes);
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
  assertStorableJson(text, () => body);
  return { body: body as Record<string, unknown>, text };
}

/**
 * Why JSON the server received cannot be processed safely, or undefined: nested deeper than MAX_JSON_DEPTH (canonical
 * JSON for signatures and body hashes walks it recursively, and so do JSON.stringify and PostgreSQL's jsonb: thousands
 * of levels overflow their stacks; DCI messages nest about ten deep), holding U+0000, which PostgreSQL text and jsonb
 * cannot store, or holding an unpaired UTF-16 surrogate (a lone `\ud800`-`\udfff` escape: not Unicode text, and
 * PostgreSQL's json refuses it, so a stored request failed as a 500). For requests and for what peers answer alike.
 * The text tests are cheap filters; the body is parsed (`parse`) and walked only when one finds something ("\\u0000",
 * an escaped backslash then u0000, is ordinary text, and so is an emoji's escaped surrogate pair).
 */
export function unprocessableJson(text: string, parse: () => unknown): string | undefined {
  const deep = occurrences(text, '{') + occurrences(text, '[') > MAX_JSON_DEPTH;
  const nul = text.includes('\\u0000');
  const surrogate = SURROGATE_ESCAPE.test(text);
  if (!deep && !nul && !surrogate) return undefined;
  return unstorable(parse());
}

/** Refuses (400) a request body holding what unprocessableJson names. */
function assertStorableJson(text: string, parse: () => unknown): void {
  const problem = unprocessableJson(text, parse);
  if (problem) throw new DciError(400, 'err.request.bad', problem);
}

/**
 * The REST routes (the operators' API, DR assessments) read their JSON bodies through zod validators: this holds them to
 * the same size limit as DCI bodies (413) and to assertStorableJson before those parse them (the text is cached for
 * them). Malformed JSON is left to the validator's own 400.
 */
export function restJsonBodies(maxBytes: number): MiddlewareHandler {
  const limit = bodyLimit({ maxSize: maxBytes, onError: () => Promise.reject(tooLarge(maxBytes)) });
  return async (c, next) => {
    if (!c.req.raw.body || !JSON_TYPE.test(c.req.header('content-type') ?? '')) return next();
    return limit(c, async () => {
      const text = await c.req.text();
      assertStorableJson(text, () => {
        try {
          return JSON.parse(text);
        } catch {
          return undefined;
        }
      });
      await next();
    });
  };
}

const MAX_JSON_DEPTH = 64;

/** How often `char` occurs in `text`, counting up to MAX_JSON_DEPTH + 1. */
function occurrences(text: string, char: string): number {
  let n = 0;
  for (let i = text.indexOf(char); i !== -1 && n <= MAX_JSON_DEPTH; i = text.indexOf(char, i + 1)) n++;
  return n;
}

/** Why a parsed body cannot be stored, or undefined. Iterative: a body may nest deeper than the call stack goes. */
function unstorable(body: unknown): string | undefined {
  const stack: [unknown, number][] = [[body, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value === 'string') {
      const problem = unstorableText(value);
      if (problem) return problem;
    } else if (typeof value === 'object' && value !== null) {
      if (depth >= MAX_JSON_DEPTH) return `the body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels`;
      for (const [k, v] of Object.entries(value)) {
        const problem = unstorableText(k);
        if (problem) return problem;
        stack.push([v, depth + 1]);
      }
    }
  }
  return undefined;
}

function unstorableText(text: string): string | undefined {
  if (text.includes('\0')) return 'a string in the body contains the character U+0000, which is not accepted';
  if (UNPAIRED_SURROGATE.test(text)) return 'a string in the body holds an unpaired surrogate (a lone \\ud800-\\udfff escape), which is not Unicode text';
  return undefined;
}

/** A `\uD800`-`\uDFFF` escape in JSON text, in either case. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A 200 answer whose JSON text is already made (signed envelopes are serialised once, for the signature and the wire). */
export function jsonText(c: Context, text: string): Response {
  return c.body(text, 200, { 'content-type': 'application/json' });
}
