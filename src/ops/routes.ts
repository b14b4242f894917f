import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Database } from '../db/client.js';
import type { JWK } from 'jose';
import { jwksDocument } from '../dci/signing/keys.js';
import type { AppEnv } from '../http/context.js';
import { renderDocsPage } from './docs-page.js';

export interface OpsDeps {
  db: Database;
  /** The keys /.well-known/jwks.json publishes. */
  publishedKeys: readonly { publicJwk: JWK }[];
  isReady: () => boolean;
  version: string;
}

export function registerOpsRoutes(app: OpenAPIHono<AppEnv>, deps: OpsDeps): void {
  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    if (!deps.isReady()) return c.json({ status: 'starting' }, 503);
    try {
      await deps.db.ping();
      return c.json({ status: 'ready' });
    } catch {
      return c.json({ status: 'database unreachable' }, 503);
    }
  });

  app.get('/.well-known/jwks.json', (c) => {
    c.header('cache-control', 'public, max-age=300');
    return c.json(jwksDocument(deps.publishedKeys));
  });

  const documentConfig = {
    openapi: '3.0.3',
    info: {
      title: 'DCI Gateway',
      version: deps.version,
      description:
        'Social registry and gateway speaking the DCI (Digital Convergence Initiative) standards. Get a token at ' +
        '/oauth2/client/token, then call the DCI endpoints with `Authorization: Bearer <token>`.',
    },
  };
  app.doc('/openapi.json', documentConfig);
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });

  let page: string | undefined;
  app.get('/docs', (c) => {
    page ??= renderDocsPage(app.getOpenAPIDocument(documentConfig) as never);
    return c.html(page);
  });

  for (const [path, summary] of [
    ['/healthz', 'Liveness: the process is up'],
    ['/readyz', 'Readiness: migrations and demo load done, database reachable (503 until then)'],
    ['/.well-known/jwks.json', "This server's public signing keys (RFC 7517 JWK Set)"],
  ] as const) {
    app.openAPIRegistry.registerPath({ method: 'get', path, tags: ['Operations'], summary, responses: { 200: { description: 'OK' } } });
  }
}
