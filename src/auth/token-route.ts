import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../http/context.js';
import { readBodyText } from '../http/json-body.js';
import { type PartnerDirectory, SecretChecksBusy } from './partners.js';
import { grantScopes, parseScopeParam } from './scopes.js';
import type { AccessTokens } from './tokens.js';

type OAuthError = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope';

/** RFC 6749 5.2 error response (the token endpoint speaks OAuth2, not the DCI error body). */
function oauthError(c: Context, status: 400 | 401, error: OAuthError, description: string, basic = false) {
  c.header('cache-control', 'no-store');
  if (status === 401) c.header('www-authenticate', basic ? 'Basic realm="dci"' : 'Bearer realm="dci"');
  return c.json({ error, error_description: description }, status);
}

/** A form parameter given twice: RFC 6749 3.2 forbids it, and which value counts (a scope, a client) would be a guess. */
const REPEATED = 'repeated' as const;

async function readTokenParams(c: Context, maxBytes: number): Promise<Record<string, string> | typeof REPEATED | undefined> {
  const type = (c.req.header('content-type') ?? '').toLowerCase();
  const text = await readBodyText(c, maxBytes);
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams(text);
    const keys = [...form.keys()];
    return new Set(keys).size === keys.length ? Object.fromEntries(form) : REPEATED;
  }
  // Liberal: some DCI clients post the same parameters as JSON.
  if (type.startsWith('application/json')) {
    try {
      const body = JSON.parse(text);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
      return Object.fromEntries(Object.entries(body).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

type ClientCredentials = { clientId: string; secret: string };

/** application/x-www-form-urlencoded decoding: `+` is a space; undefined for a broken percent escape. */
function formDecoded(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * HTTP Basic client credentials: base64 of `id:secret`, each form-urlencoded first (RFC 6749 2.3.1). Many clients
 * (curl -u, Python requests' auth=) send them as they are, so a secret with `+` or `%` has two readings: form-decoded,
 * then as sent. Undefined when malformed (no colon).
 */
function basicCredentialReadings(encoded: string): ClientCredentials[] | undefined {
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const asSent = { clientId: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
  const clientId = formDecoded(asSent.clientId);
  const secret = formDecoded(asSent.secret);
  const readings = clientId === undefined || secret === undefined ? [] : [{ clientId, secret }];
  if (!readings.some((r) => r.clientId === asSent.clientId && r.secret === asSent.secret)) readings.push(asSent);
  return readings;
}

/**
 * POST /oauth2/client/token: OAuth2 client credentials (DCI authz API, DIGEST 7.3). Credentials in the form body or
 * HTTP Basic (RFC 6749 2.3.1); `expires_in` a JSON number (RFC 6749 5.1); the spec's required `timestamp` header is
 * not required (clients omit it).
 */
export function registerTokenRoute(app: OpenAPIHono<AppEnv>, partners: PartnerDirectory, tokens: AccessTokens, maxBodyBytes: number): void {
  app.post('/oauth2/client/token', async (c) => {
    const params = await readTokenParams(c, maxBodyBytes);
    if (!params) return oauthError(c, 400, 'invalid_request', 'body must be application/x-www-form-urlencoded (or a JSON object of the same parameters)');
    if (params === REPEATED) return oauthError(c, 400, 'invalid_request', 'a parameter is given more than once (RFC 6749 3.2)');
    if (params.grant_type !== 'client_credentials') {
      return params.grant_type
        ? oauthError(c, 400, 'unsupported_grant_type', 'only client_credentials is supported')
        : oauthError(c, 400, 'invalid_request', 'grant_type is required');
    }
    const basic = /^Basic\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    let readings: ClientCredentials[] = [{ clientId: params.client_id ?? '', secret: params.client_secret ?? '' }];
    if (basic) {
      const fromBasic = basicCredentialReadings(basic[1]);
      if (!fromBasic) return oauthError(c, 401, 'invalid_client', 'malformed Basic credentials', true);
      if (params.client_id && !fromBasic.some((r) => r.clientId === params.client_id)) {
        return oauthError(c, 400, 'invalid_request', 'client_id differs from the Basic credentials');
      }
      // RFC 6749 2.3: one authentication method per request. A body secret repeating the Basic one is let through.
      if (params.client_secret && !fromBasic.some((r) => r.secret === params.client_secret)) {
        return oauthError(c, 400, 'invalid_request', 'client_secret differs from the Basic credentials: use one of the two');
      }
      readings = fromBasic;
    }
    if (!readings[0].clientId || !readings[0].secret) return oauthError(c, 401, 'invalid_client', 'client_id and client_secret are required', !!basic);
    let partner;
    try {
      for (const { clientId, secret } of readings) {
        partner = await partners.authenticate(clientId, secret);
        if (partner) break;
      }
    } catch (e) {
      if (!(e instanceof SecretChecksBusy)) throw e;
      c.header('cache-control', 'no-store');
      c.header('retry-after', '1');
      return c.json({ error: 'temporarily_unavailable', error_description: 'too many token requests at once; try again shortly' }, 503);
    }
    if (!partner) return oauthError(c, 401, 'invalid_client', 'unknown client or wrong secret', !!basic);
    const granted = grantScopes(parseScopeParam(params.scope), partner.scopes);
    if (!granted) return oauthError(c, 400, 'invalid_scope', 'a requested scope is not granted to this client');
    const { token, expiresIn } = await tokens.issue(partner, granted);
    c.header('cache-control', 'no-store');
    c.header('pragma', 'no-cache');
    return c.json({ access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope: granted.join(' ') });
  });

  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/oauth2/client/token',
    tags: ['Auth'],
    summary: 'Get an access token (OAuth2 client credentials)',
    description:
      'DCI authz API. Send `grant_type=client_credentials` with `client_id`/`client_secret` in the form body or as HTTP Basic. ' +
      '`scope` (space-separated, optional) narrows the token: `{domain}:registry.{action}`, e.g. `social:registry.search`.',
    request: {
      body: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': {
            schema: {
              type: 'object',
              required: ['grant_type'],
              properties: {
                grant_type: { type: 'string', enum: ['client_credentials'] },
                client_id: { type: 'string' },
                client_secret: { type: 'string' },
                scope: { type: 'string', example: 'social:registry.search' },
              },
            },
          },
        },
      },
    },
    responses: {
      200: {
        description: 'Access token',
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['access_token', 'token_type', 'expires_in'],
              properties: {
                access_token: { type: 'string' },
                token_type: { type: 'string', example: 'Bearer' },
                expires_in: { type: 'integer', example: 3600 },
                scope: { type: 'string' },
              },
            },
          },
        },
      },
      400: { description: 'RFC 6749 error: invalid_request, unsupported_grant_type, invalid_scope' },
      401: { description: 'RFC 6749 error: invalid_client' },
      503: { description: '`temporarily_unavailable`: too many token requests at once; try again after Retry-After seconds' },
    },
  });
}
