import { OpenAPIHono } from '@hono/zod-openapi';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import { requireAdmin } from './auth/bearer.js';
import { registerPartnerRoutes } from './auth/partner-routes.js';
import type { PartnerDirectory } from './auth/partners.js';
import type { AuditLog } from './audit/audit-log.js';
import { registerAuditRoutes } from './audit/routes.js';
import { registerTokenRoute } from './auth/token-route.js';
import type { AccessTokens } from './auth/tokens.js';
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import type { EnvelopeBuilder } from './dci/envelope/builder.js';
import { DciRequestReader } from './dci/envelope/read-request.js';
import type { SignatureVerifier } from './dci/signing/verifier.js';
import type { SearchDomain } from './dci/search/items.js';
import type { AsyncProtocol } from './dci/transactions/async-protocol.js';
import type { MessageCrypto } from './dci/signing/encryption.js';
import { registerCrvsNotify, registerCrvsSearch, registerVitalEventReview } from './domains/crvs/routes.js';
import type { VitalEventInbox } from './domains/crvs/vital-event-inbox.js';
import { registerSocialRoutes } from './domains/social/routes.js';
import type { AssessmentService } from './domains/dr/assessments.js';
import { registerDrRoutes, registerVocabularies } from './domains/dr/routes.js';
import { AGE_AT_ONSET, DISABILITY_LEVEL, DISABILITY_STATUS, IMPAIRMENT_CAUSE, IMPAIRMENT_LEVEL, IMPAIRMENT_TYPE, SUPPORT_STATUS } from './domains/dr/vocabulary.js';
import type { EnrolmentStore } from './domains/ibr/enrolment-store.js';
import { registerIbrRoutes } from './domains/ibr/routes.js';
import { ASSISTANCE_UNIT, BENEFIT_FREQUENCY, BENEFIT_TYPE, ENROLMENT_STATUS } from './domains/ibr/vocabulary.js';
import type { AppEnv } from './http/context.js';
import { DciError } from './http/errors.js';
import { handleError, handleNotFound } from './http/error-handler.js';
import { requestContext } from './http/middleware.js';
import { restJsonBodies } from './http/json-body.js';
import { registerBenchRoute } from './ops/bench-route.js';
import type { IdentifierVault } from './registry/identifiers.js';
import { DISABILITY_DOMAIN, DISABILITY_SEVERITY } from './registry/vocabularies.js';
import type { UpstreamSearch } from './gateway/upstream.js';
import { registerUpstreamRoutes, type UpstreamLink } from './gateway/upstream-routes.js';
import { registerDciSchemas } from './ops/openapi.js';
import { LocationTree } from './registry/locations.js';
import { registerLocationsRoute } from './registry/locations-route.js';
import { registerOpsRoutes } from './ops/routes.js';

export interface AppDeps {
  config: Config;
  db: Database;
  logger: Logger;
  /** Published at /.well-known/jwks.json. */
  publishedKeys: readonly { publicJwk: JWK }[];
  crypto: MessageCrypto;
  partners: PartnerDirectory;
  tokens: AccessTokens;
  envelopes: EnvelopeBuilder;
  searchDomains: ReadonlyMap<string, SearchDomain>;
  asyncProtocol: AsyncProtocol;
  verifier: SignatureVerifier;
  audit: AuditLog;
  identifiers: IdentifierVault;
  vitalEvents: VitalEventInbox;
  enrolments: EnrolmentStore;
  assessments: AssessmentService;
  /** Registry events were committed outside the CRVS inbox (IBR enrolments, DR assessments). */
  registryChanged: () => void;
  /** Domains forwarded to an upstream registry (gateway mode). */
  upstreams: ReadonlyMap<string, UpstreamSearch>;
  upstreamLinks: ReadonlyMap<string, UpstreamLink>;
  isReady: () => boolean;
  version: string;
}

/** Builds the HTTP app from the modules; no business logic here. */
export function buildApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    // REST input that fails its zod schema is a 400 problem document like every other refusal.
    defaultHook: (result) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        throw new DciError(400, 'err.request.bad', `${issue?.path.join('.') || 'request'}: ${issue?.message ?? 'invalid'}`);
      }
    },
  });
  app.use('*', requestContext(deps.logger));
  const restBodies = restJsonBodies(deps.config.MAX_BODY_BYTES);
  // Every operators' route needs the admin scope, checked before its body is read: a caller without a token is told
  // 401, not what is wrong with what it sent.
  app.use('/admin/*', requireAdmin(deps.tokens));
  app.use('/admin/*', restBodies);
  app.onError(handleError);
  app.notFound(handleNotFound);

  registerDciSchemas(app);
  registerOpsRoutes(app, { db: deps.db, publishedKeys: deps.publishedKeys, isReady: deps.isReady, version: deps.version });
  registerLocationsRoute(app, new LocationTree(deps.db));
  registerTokenRoute(app, deps.partners, deps.tokens, deps.config.MAX_BODY_BYTES);
  const reader = new DciRequestReader(deps.verifier, deps.crypto, deps.config.MAX_BODY_BYTES);
  const syncSearch = {
    reader,
    replay: deps.asyncProtocol.replay,
    audit: deps.audit,
    tokens: deps.tokens,
    envelopes: deps.envelopes,
    limits: {
      defaultPageSize: deps.config.DEFAULT_PAGE_SIZE,
      maxPageSize: deps.config.MAX_PAGE_SIZE,
      maxResultWindow: deps.config.MAX_RESULT_WINDOW,
      maxBatchItems: deps.config.MAX_BATCH_ITEMS,
      maxBodyBytes: deps.config.MAX_BODY_BYTES,
      budgetMs: deps.config.SYNC_SEARCH_BUDGET_MS,
    },
  };
  registerSocialRoutes(app, { ...syncSearch, search: deps.searchDomains.get('social')!, forward: deps.upstreams.get('social') });
  registerCrvsSearch(app, { ...syncSearch, domain: 'crvs', search: deps.searchDomains.get('crvs')!, forward: deps.upstreams.get('crvs') });
  const checks = { tokens: deps.tokens, reader, envelopes: deps.envelopes, replay: deps.asyncProtocol.replay, audit: deps.audit, maxBatchItems: deps.config.MAX_BATCH_ITEMS };
  registerIbrRoutes(app, { ...syncSearch, domain: 'ibr', search: deps.searchDomains.get('ibr')!, forward: deps.upstreams.get('ibr') }, {
    db: deps.db,
    vault: deps.identifiers,
    store: deps.enrolments,
    checks,
    messageTsWindowSeconds: deps.config.MESSAGE_TS_WINDOW_SECONDS,
    onChanged: deps.registryChanged,
  });
  registerDrRoutes(app, { ...syncSearch, domain: 'dr', search: deps.searchDomains.get('dr')!, forward: deps.upstreams.get('dr') }, {
    db: deps.db,
    vault: deps.identifiers,
    assessments: deps.assessments,
    checks,
    onChanged: deps.registryChanged,
    jsonBodies: restBodies,
  });
  registerVocabularies(app, [ENROLMENT_STATUS, BENEFIT_TYPE, ASSISTANCE_UNIT, BENEFIT_FREQUENCY, DISABILITY_STATUS, DISABILITY_LEVEL, DISABILITY_DOMAIN, DISABILITY_SEVERITY, IMPAIRMENT_TYPE, IMPAIRMENT_LEVEL, IMPAIRMENT_CAUSE, AGE_AT_ONSET, SUPPORT_STATUS]);
  // What peer registries send back (on-search pages) is held to what an upstream's sync answer may be: a registry
  // paging at 1 MiB of results (as this server did before it counted the envelope in) sends pages a little larger.
  const callbackReader = new DciRequestReader(deps.verifier, deps.crypto, Math.max(deps.config.MAX_BODY_BYTES, deps.config.UPSTREAM_MAX_ANSWER_BYTES));
  deps.asyncProtocol.registerRoutes(app, deps.tokens, reader, callbackReader);
  registerAuditRoutes(app, { audit: deps.audit });
  registerPartnerRoutes(app, { partners: deps.partners, audit: deps.audit, production: deps.config.NODE_ENV === 'production' });
  registerCrvsNotify(app, {
    tokens: deps.tokens,
    reader,
    envelopes: deps.envelopes,
    inbox: deps.vitalEvents,
    maxBatchItems: deps.config.MAX_BATCH_ITEMS,
    messageTsWindowSeconds: deps.config.MESSAGE_TS_WINDOW_SECONDS,
  });
  registerVitalEventReview(app, { inbox: deps.vitalEvents, audit: deps.audit });
  registerUpstreamRoutes(app, { links: deps.upstreamLinks, audit: deps.audit });
  if (deps.config.BENCH_ROUTES) registerBenchRoute(app, deps.db, deps.identifiers);
  return app;
}
