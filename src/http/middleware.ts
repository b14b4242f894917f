import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { AppEnv } from './context.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Sent with every response (OWASP secure headers); HSTS matters once a TLS terminator serves us over HTTPS. */
const SECURITY_HEADERS: [string, string][] = [
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'DENY'],
  ['referrer-policy', 'no-referrer'],
  ['strict-transport-security', 'max-age=31536000'],
  ['cross-origin-resource-policy', 'same-origin'],
];
const DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/** Request id (the caller's `x-request-id` when sane, else ours), a child logger, and one access-log line. */
export function requestContext(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const given = c.req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    c.set('requestId', requestId);
    const log = logger.child({ request_id: requestId });
    c.set('log', log);
    const started = performance.now();
    // Set before the handler runs, so that its response is built with them: a header set on a finished response
    // makes Hono copy the response, body included, once more on every request.
    c.header('x-request-id', requestId);
    for (const [name, value] of SECURITY_HEADERS) c.header(name, value);
    // Only the API reference page is HTML; nothing else may load anything.
    c.header('content-security-policy', c.req.path === '/docs' ? DOCS_CSP : "default-src 'none'; frame-ancestors 'none'");
    await next();
    const auth = c.get('auth');
    log.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        partner_id: auth?.partnerId,
      },
      'request',
    );
  };
}
