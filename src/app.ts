import { OpenAPIHono } from '@hono/zod-openapi';
import type { Logger } from 'pino';
import type { PartnerDirectory } from './auth/partners.js';
import { registerTokenRoute } from './auth/token-route.js';
import type { AccessTokens } from './auth/tokens.js';
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import { EnvelopeBuilder } from './dci/envelope/builder.js';
import type { SigningKey } from './dci/signing/keys.js';
import { registerSocialRoutes } from './domains/social/routes.js';
import type { AppEnv } from './http/context.js';
import { handleError, handleNotFound } from './http/error-handler.js';
import { requestContext } from './http/middleware.js';
import { registerBenchRoute } from './ops/bench-route.js';
import { registerDciSchemas } from './ops/openapi.js';
import { registerOpsRoutes } from './ops/routes.js';
import type { IdentifierOwner } from './registry/identifiers.js';

export interface AppDeps {
  config: Config;
  db: Database;
  logger: Logger;
  signingKey: SigningKey;
  partners: PartnerDirectory;
  tokens: AccessTokens;
  identifierTypes: ReadonlyMap<string, IdentifierOwner>;
  isReady: () => boolean;
  version: string;
}

/** Builds the HTTP app from the modules; no business logic here. */
export function buildApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  app.use('*', requestContext(deps.logger));
  app.onError(handleError);
  app.notFound(handleNotFound);

  registerDciSchemas(app);
  registerOpsRoutes(app, { db: deps.db, signingKeys: [deps.signingKey], isReady: deps.isReady, version: deps.version });
  registerTokenRoute(app, deps.partners, deps.tokens, deps.config.MAX_BODY_BYTES);
  registerSocialRoutes(app, {
    db: deps.db,
    tokens: deps.tokens,
    envelopes: new EnvelopeBuilder(deps.config.DCI_SENDER_ID),
    identifierTypes: deps.identifierTypes,
    limits: {
      defaultPageSize: deps.config.DEFAULT_PAGE_SIZE,
      maxPageSize: deps.config.MAX_PAGE_SIZE,
      maxResultWindow: deps.config.MAX_RESULT_WINDOW,
      maxBatchItems: deps.config.MAX_BATCH_ITEMS,
      maxBodyBytes: deps.config.MAX_BODY_BYTES,
    },
  });
  if (deps.config.BENCH_ROUTES) registerBenchRoute(app, deps.db);
  return app;
}
