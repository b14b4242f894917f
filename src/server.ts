import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { type ConfiguredPartner, DEMO_PARTNER_SECRET, demoPartner, PartnerDirectory, type Partner } from './auth/partners.js';
import { loadPartnersFile } from './auth/partners-file.js';
import { AccessTokens } from './auth/tokens.js';
import type { Config } from './config.js';
import { type Database, migrateDatabase, openDatabase } from './db/client.js';
import { databaseSettingWarnings } from './ops/database-settings.js';
import { EnvelopeBuilder } from './dci/envelope/builder.js';
import { type EncryptionKey, loadEncryptionKey, MessageCrypto } from './dci/signing/encryption.js';
import { loadSigningKey, type SigningKey } from './dci/signing/keys.js';
import { EnvelopeSigner } from './dci/signing/signer.js';
import { PartnerKeys } from './dci/signing/partner-keys.js';
import { SignatureVerifier } from './dci/signing/verifier.js';
import { AsyncProtocol } from './dci/transactions/async-protocol.js';
import { AuditLog } from './audit/audit-log.js';
import { searchDomains } from './domains/search-domains.js';
import { createLogger } from './http/logger.js';
import { type DataKeys, FileDataKeySource } from './registry/data-keys.js';
import { VitalEventApplier } from './domains/crvs/apply.js';
import { VitalEventInbox } from './domains/crvs/vital-event-inbox.js';
import { AssessmentService } from './domains/dr/assessments.js';
import { EnrolmentStore } from './domains/ibr/enrolment-store.js';
import { IdentifierVault, reconcileSealedIdentifiers } from './registry/identifiers.js';
import { loadDemoDataIfEmpty } from './registry/seed/load.js';
import { loadUpstreamsFile, UpstreamSearch } from './gateway/upstream.js';
import { PeerClient } from './gateway/peer-client.js';
import { startingApp } from './ops/routes.js';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

export interface RunningServer {
  readonly url: string;
  readonly db: Database;
  readonly logger: Logger;
  /** Resolves once migrations and the first-start demo load are done (what /readyz reports). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** An open database (tests pass a prepared one); otherwise opened from the config. */
  db?: Database;
  logger?: Logger;
  signingKey?: SigningKey;
  /** Retired signing keys, still published and accepted on our tokens (besides SIGNING_KEY_PREVIOUS). */
  previousSigningKeys?: SigningKey[];
  /** The encryption key (tests pass one); otherwise ENCRYPTION_KEY, or one generated under DATA_DIR outside production. */
  encryptionKey?: EncryptionKey;
  /** The restricted-field keys (tests share one with their seeded template); otherwise from DATA_KEY. */
  dataKeys?: DataKeys;
  /** Extra partners (tests); the demo partner is added outside production. */
  partners?: Partner[];
}

/**
 * The serving pool carries the statement timeout; migrations run before it on a connection of their own without one,
 * since a migration of a national registry may rightly take minutes.
 */
async function openServingDatabase(config: Config): Promise<Database> {
  if (!config.DATABASE_URL) {
    const db = await openDatabase({ dataDir: config.DATA_DIR });
    await migrateDatabase(db);
    return db;
  }
  const migrator = await openDatabase({ databaseUrl: config.DATABASE_URL, poolSize: 2 });
  try {
    await migrateDatabase(migrator);
  } finally {
    await migrator.close();
  }
  return openDatabase({
    databaseUrl: config.DATABASE_URL,
    poolSize: config.DATABASE_POOL_SIZE,
    statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
  });
}

/** Listens on PORT, answering every request through `handle` (which the start replaces once the app is built). */
async function listen(config: Config, handle: (req: Request, env: unknown) => Response | Promise<Response>): Promise<Server> {
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: (req, env) => handle(req, env), port: config.PORT, hostname: config.HOST }, () => resolve(s as Server));
    s.once('error', (err: Error) => reject(new Error(`cannot listen on ${config.HOST}:${config.PORT}: ${err.message}`)));
  });
  // A client that stalls mid-request is cut off instead of holding a socket forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  // Longer than any client keeps an idle connection (undici 4 s, browsers and load balancers up to 60 s): a server that
  // closes first races the client's next request on that socket, which then fails with ECONNRESET.
  server.keepAliveTimeout = 65_000;
  return server;
}

/**
 * Listens, then opens the database, migrates and builds the app (answering /healthz meanwhile, and 503 to the rest);
 * the demo data loads in the background until ready.
 */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  let handle: (req: Request, env: unknown) => Response | Promise<Response> = startingApp(logger).fetch;
  const server = await listen(config, (req, env) => handle(req, env));
  try {
    return await startServing(config, opts, logger, server, (app) => (handle = app.fetch));
  } catch (err) {
    server.closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw err;
  }
}

async function startServing(
  config: Config,
  opts: StartOptions,
  logger: Logger,
  server: Server,
  serveWith: (app: { fetch: (req: Request, env: unknown) => Response | Promise<Response> }) => void,
): Promise<RunningServer> {
  const db = opts.db ?? (await openServingDatabase(config));
  if (opts.db) await migrateDatabase(db);
  for (const warning of await databaseSettingWarnings(db)) logger.warn(warning);
  const signingKey = opts.signingKey ?? (await loadSigningKey({ path: config.SIGNING_KEY, dataDir: config.DATA_DIR }));
  const previousSigningKeys = [
    ...(opts.previousSigningKeys ?? []),
    ...(await Promise.all(config.SIGNING_KEY_PREVIOUS.map((path) => loadSigningKey({ path, dataDir: config.DATA_DIR })))),
  ];
  // In production only a configured key: one generated inside a container would change at every deployment.
  const encryptionKey =
    opts.encryptionKey ??
    (config.ENCRYPTION_KEY || config.NODE_ENV !== 'production' ? await loadEncryptionKey({ path: config.ENCRYPTION_KEY, dataDir: config.DATA_DIR }) : undefined);
  const messageCrypto = new MessageCrypto(encryptionKey);
  const partnerKeys = new PartnerKeys({ timeoutMs: config.CALLBACK_TIMEOUT_MS, refetchMinMs: config.PARTNER_JWKS_REFETCH_MIN_SECONDS * 1000 });
  const configured: ConfiguredPartner[] = (opts.partners ?? []).map((partner) => ({ partner, source: 'config' }));
  if (config.PARTNERS_FILE) {
    const fromFile = await loadPartnersFile(config.PARTNERS_FILE, { production: config.NODE_ENV === 'production' });
    configured.push(...fromFile.map(({ partner, secret }) => ({ partner, secret, source: 'file' as const })));
  }
  if (config.NODE_ENV !== 'production') configured.push({ partner: await demoPartner(), source: 'development', secret: DEMO_PARTNER_SECRET });
  const partners = await PartnerDirectory.open(db, configured);
  const tokens = new AccessTokens(signingKey, config.DCI_SENDER_ID, config.ACCESS_TOKEN_TTL_SECONDS, previousSigningKeys, partners);
  const dataKeys = opts.dataKeys ?? (await new FileDataKeySource({ path: config.DATA_KEY, dataDir: config.DATA_DIR }).load());
  const vault = await IdentifierVault.load(db, dataKeys);
  const resealed = await reconcileSealedIdentifiers(db, vault);
  if (resealed > 0) logger.info({ identifiers: resealed }, 'identifiers brought in line with their classification');
  const domains = searchDomains(db, vault);
  const signer = new EnvelopeSigner(signingKey, config.DCI_SENDER_ID);
  const envelopes = new EnvelopeBuilder(config.DCI_SENDER_ID, config.DCI_SIGNING ? signer : undefined, { crypto: messageCrypto, partnerKeys });
  const audit = new AuditLog(db);
  const asyncProtocol = new AsyncProtocol({ db, config, partners, envelopes, signer, logger, searchDomains: domains, audit });

  const verifier = new SignatureVerifier(partnerKeys);
  const upstreamList = config.UPSTREAMS_FILE ? loadUpstreamsFile(config.UPSTREAMS_FILE, config.DCI_SENDER_ID) : [];
  const upstreams = new Map(upstreamList.map((u) => [u.domain, new UpstreamSearch(u, domains.get(u.domain), envelopes, signingKey, asyncProtocol.peerTokens, verifier, { timeoutMs: config.CALLBACK_TIMEOUT_MS, maxAnswerBytes: config.UPSTREAM_MAX_ANSWER_BYTES })]));
  const upstreamLinks = new Map(
    upstreamList.map((u) => [
      u.domain,
      {
        upstream: u,
        client: new PeerClient(asyncProtocol.outbound, envelopes, new EnvelopeSigner(signingKey, u.senderId), asyncProtocol.peerTokens, config.publicUrl, {
          timeoutMs: config.CALLBACK_TIMEOUT_MS,
          senderId: u.senderId,
          signatureFormat: u.signatureFormat,
        }),
      },
    ]),
  );
  asyncProtocol.forwardSearches(upstreamLinks);
  let isReady = false;
  const app = buildApp({
    config,
    db,
    logger,
    publishedKeys: [signingKey, ...previousSigningKeys, ...(encryptionKey ? [encryptionKey] : [])],
    crypto: messageCrypto,
    partners,
    tokens,
    envelopes,
    searchDomains: domains,
    asyncProtocol,
    verifier,
    upstreams,
    upstreamLinks,
    audit,
    identifiers: vault,
    vitalEvents: new VitalEventInbox(db, vault, new VitalEventApplier(vault), () => asyncProtocol.registryChanged()),
    enrolments: new EnrolmentStore(db, vault),
    assessments: new AssessmentService(db, vault),
    registryChanged: () => asyncProtocol.registryChanged(),
    isReady: () => isReady,
    version: VERSION,
  });

  serveWith(app);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${port}`;

  const ready = (async () => {
    if (config.WORKERS) await asyncProtocol.startWorkers();
    if (config.demoData) {
      const loaded = await loadDemoDataIfEmpty(db, { households: config.DEMO_HOUSEHOLDS, seed: config.DEMO_SEED, dataKeys, log: logger });
      if (loaded) logger.info({ households: config.DEMO_HOUSEHOLDS }, 'demo data loaded');
    }
    isReady = true;
  })();
  ready.catch((err) => logger.error({ err: { message: (err as Error).message } }, 'start-up failed'));

  return {
    url,
    db,
    logger,
    ready,
    async close() {
      // Draining: not ready any more, and every keep-alive connection is closed as soon as its answer in flight is
      // sent (an answer started from now on says `Connection: close`); those left at SHUTDOWN_GRACE_MS are cut.
      // Closing only the connections idle at the start kept the busy ones serving until the grace period ran out.
      isReady = false;
      server.on('request', (_req, res) => {
        if (!res.headersSent) res.setHeader('connection', 'close');
      });
      await new Promise<void>((resolve) => {
        const sweep = setInterval(() => server.closeIdleConnections?.(), 50);
        server.close(() => {
          clearInterval(sweep);
          resolve();
        });
        setTimeout(() => server.closeAllConnections?.(), config.SHUTDOWN_GRACE_MS).unref();
        server.closeIdleConnections?.();
      });
      await ready.catch(() => {});
      await asyncProtocol.stop(config.SHUTDOWN_GRACE_MS);
      partners.close();
      if (!opts.db) await db.close();
    },
  };
}
