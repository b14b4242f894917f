import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from './context.js';
import { handleError, handleNotFound } from './error-handler.js';

/** The one error handler: what a caller sees for each kind of failure, and what never leaks. */
function appThrowing(err: unknown) {
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.notFound(handleNotFound);
  app.get('/boom', () => {
    throw err;
  });
  return app;
}

describe('error handler', () => {
  it('a statement cancelled by the database timeout -> 504 err.request.timeout', async () => {
    const res = await appThrowing(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' })).request('/boom');
    expect(res.status).toBe(504);
    const body = await res.json();
    expect(body.message.error.code).toBe('err.request.timeout');
    expect(body.errors[0].code).toBe('err.request.timeout');
  });

  it('a deadlock that outlived the retries -> 503 err.service.unavailable with Retry-After, no detail', async () => {
    const res = await appThrowing(Object.assign(new Error('deadlock detected: Process 42 waits for ShareLock on transaction 7'), { code: '40P01' })).request('/boom');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const text = await res.text();
    expect(JSON.parse(text).message.error.code).toBe('err.service.unavailable');
    expect(text).not.toMatch(/Process 42|ShareLock/);
  });

  it('a NUL character PostgreSQL cannot store (from a route not reading its body as DCI JSON) -> 400 err.request.bad', async () => {
    for (const code of ['22021', '22P05']) {
      const res = await appThrowing(Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code })).request('/boom');
      expect(res.status).toBe(400);
      expect((await res.json()).message.error.code).toBe('err.request.bad');
    }
  });

  it('anything unexpected -> 500 err.service.unavailable without the message, SQL or stack', async () => {
    const res = await appThrowing(new Error('relation "individuals" does not exist at select * from individuals')).request('/boom');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text).message.error).toEqual({ code: 'err.service.unavailable', message: 'internal error' });
    expect(text).not.toMatch(/individuals|select|at /);
  });
});
