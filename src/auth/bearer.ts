import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../http/context.js';
import { DciError } from '../http/errors.js';
import { covers, scopesAllow } from './scopes.js';
import type { AccessTokens } from './tokens.js';

const CHALLENGE = 'Bearer realm="dci"';

/**
 * Bearer check for a DCI route: 401 with a `WWW-Authenticate` challenge for a missing, malformed or expired token
 * (or one whose partner is no longer registered),
 * 403 when the token's scopes do not cover `{domain}:registry.{action}`. Only `Authorization: Bearer` is accepted
 * (DIGEST 7.1).
 */
export function requireScope(tokens: AccessTokens, domain: string, action: string): MiddlewareHandler<AppEnv> {
  return requireToken(tokens, (scopes) => scopesAllow(scopes, domain, action), `${domain}:registry.${action}`);
}

/**
 * Bearer check for the operators' REST API: the `admin` scope (or `*`). Its answers are never cached: they name
 * partners, callback addresses and the records each partner received.
 */
export function requireAdmin(tokens: AccessTokens): MiddlewareHandler<AppEnv> {
  const check = requireToken(tokens, (scopes) => scopes.some((s) => covers(s, 'admin')), 'admin');
  return (c, next) => {
    c.header('cache-control', 'no-store');
    return check(c, next);
  };
}

function requireToken(tokens: AccessTokens, allowed: (scopes: readonly string[]) => boolean, scopeName: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (!header) {
      throw new DciError(401, 'err.request.unauthorized', 'bearer token required', { 'www-authenticate': CHALLENGE });
    }
    const match = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(header);
    const verified = match ? await tokens.verify(match[1]) : undefined;
    if (!verified) {
      throw new DciError(401, 'err.request.unauthorized', 'invalid or expired token', {
        'www-authenticate': `${CHALLENGE}, error="invalid_token"`,
      });
    }
    c.set('auth', verified.claims);
    c.set('partner', verified.partner);
    if (!allowed(verified.claims.scopes)) {
      throw new DciError(403, 'err.request.forbidden', `token lacks scope ${scopeName}`, {
        'www-authenticate': `${CHALLENGE}, error="insufficient_scope", scope="${scopeName}"`,
      });
    }
    await next();
  };
}
