import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import type { PartnerDirectory } from '../../auth/partners.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { PeerTokens } from '../../auth/peer-tokens.js';
import type { AccessTokens } from '../../auth/tokens.js';
import type { Config } from '../../config.js';
import type { Database } from '../../db/client.js';
import { deleteSettledRows } from '../../db/retention.js';
import type { AppEnv } from '../../http/context.js';
import type { EnvelopeBuilder } from '../envelope/builder.js';
import type { DciRequestReader } from '../envelope/read-request.js';
import type { SearchDomain } from '../search/items.js';
import type { EnvelopeSigner } from '../signing/signer.js';
import { NotifyFanout } from '../subscriptions/notify-fanout.js';
import { SubscriptionService } from '../subscriptions/subscription-service.js';
import type { Peer, PeerClient } from '../../gateway/peer-client.js';
import { CallbackRelay } from './callback-relay.js';
import { callbackAgent } from './callback-target.js';
import { DeliveryStore, SETTLED_NOTIFIES } from './delivery-store.js';
import { CallbackDispatcher } from './dispatcher.js';
import { TransactionExecutor } from './executor.js';
import { registerOperatorRoutes } from './operator-routes.js';
import { OutboundStore, SETTLED_OUTBOUND } from './outbound-store.js';
import { registerCallbackReceivers } from './receiver-routes.js';
import { ReplayGuard } from './replay-guard.js';
import { registerAsyncRoutes } from './routes.js';
import { SETTLED_TRANSACTIONS, TransactionStore } from './transaction-store.js';
import { TxnStatusService } from './txn-status.js';
import { registerWorker, type WorkerIdentity } from './worker-identity.js';

/**
 * The DCI domains this server speaks; each gets the async protocol's endpoints (DIGEST 1.2: all 11 core endpoints).
 * The DR files define no txn/status (DIGEST 1.2, 11.2 #24, spec issue #49), yet a DR partner's async search and
 * subscribe need their state as much as any other domain's: the core file is the contract, so the DR gets them too.
 */
export const DCI_DOMAINS = ['social', 'crvs', 'ibr', 'dr'] as const;

export interface AsyncProtocolDeps {
  db: Database;
  config: Config;
  partners: PartnerDirectory;
  envelopes: EnvelopeBuilder;
  signer: EnvelopeSigner;
  logger: Logger;
  searchDomains: ReadonlyMap<string, SearchDomain>;
  audit: AuditLog;
}

/**
 * The async protocol for every domain, assembled: durable intake, execution and callback workers, txn status, the
 * callback receivers of the client side, and the operators' API.
 */
export class AsyncProtocol {
  readonly transactions: TransactionStore;
  readonly deliveries: DeliveryStore;
  readonly outbound: OutboundStore;
  readonly peerTokens: PeerTokens;
  private readonly txnStatus: TxnStatusService;
  private readonly executor: TransactionExecutor;
  private readonly dispatcher: CallbackDispatcher;
  private readonly fanout: NotifyFanout;
  private readonly relay: CallbackRelay;
  private readonly agents: { publicOnly: Agent; privateAllowed: Agent };
  private worker?: WorkerIdentity;
  private pruning?: NodeJS.Timeout;
  private pruningRun?: Promise<void>;
  readonly replay: ReplayGuard;

  constructor(private readonly deps: AsyncProtocolDeps) {
    const { db, config, logger } = deps;
    this.transactions = new TransactionStore(db);
    this.deliveries = new DeliveryStore(db);
    this.outbound = new OutboundStore(db);
    this.txnStatus = new TxnStatusService(this.transactions);
    this.replay = new ReplayGuard(db, config.MESSAGE_TS_WINDOW_SECONDS);
    this.peerTokens = new PeerTokens({ timeoutMs: config.CALLBACK_TIMEOUT_MS });
    const connectTimeoutMs = Math.min(config.CALLBACK_TIMEOUT_MS, 5_000);
    this.agents = {
      publicOnly: callbackAgent({ allowPrivateNetwork: false, connectTimeoutMs }),
      privateAllowed: callbackAgent({ allowPrivateNetwork: true, connectTimeoutMs }),
    };
    this.dispatcher = new CallbackDispatcher(
      this.deliveries,
      deps.partners,
      deps.signer,
      this.peerTokens,
      this.agents,
      {
        timeoutMs: config.CALLBACK_TIMEOUT_MS,
        retryBaseMs: config.CALLBACK_RETRY_BASE_MS,
        retryCapMs: config.CALLBACK_RETRY_CAP_SECONDS * 1000,
        concurrency: config.CALLBACK_CONCURRENCY,
        perPartner: config.CALLBACK_PARTNER_CONCURRENCY,
        pollMs: config.WORKER_POLL_MS,
      },
      logger.child({ worker: 'callbacks' }),
    );
    this.executor = new TransactionExecutor(
      this.transactions,
      deps.searchDomains,
      deps.partners,
      deps.audit,
      this.txnStatus,
      deps.envelopes,
      {
        batch: 128,
        pollMs: config.WORKER_POLL_MS,
        maxCallbackBytes: config.CALLBACK_MAX_MESSAGE_BYTES,
        horizonSeconds: config.CALLBACK_HORIZON_SECONDS,
        leaseMs: this.dispatcher.leaseMs,
        limits: { defaultPageSize: config.DEFAULT_PAGE_SIZE, maxPageSize: config.MAX_PAGE_SIZE, maxResultWindow: config.MAX_RESULT_WINDOW },
      },
      logger.child({ worker: 'async-requests' }),
      this.dispatcher,
      new SubscriptionService(deps.searchDomains),
    );
    this.relay = new CallbackRelay(db, this.transactions, deps.partners, deps.audit, deps.envelopes, deps.searchDomains, { horizonSeconds: config.CALLBACK_HORIZON_SECONDS }, this.dispatcher);
    this.fanout = new NotifyFanout(
      db,
      deps.searchDomains,
      deps.partners,
      deps.audit,
      deps.envelopes,
      { pollMs: config.WORKER_POLL_MS, horizonSeconds: config.CALLBACK_HORIZON_SECONDS, maxItems: config.MAX_BATCH_ITEMS, maxBytes: config.CALLBACK_MAX_MESSAGE_BYTES },
      logger.child({ worker: 'notify' }),
      this.dispatcher,
    );
  }

  /** `callbackReader`: reads what peer registries send back (callbacks to requests we sent them). */
  registerRoutes(app: OpenAPIHono<AppEnv>, tokens: AccessTokens, reader: DciRequestReader, callbackReader: DciRequestReader): void {
    const replay = this.replay;
    const { config } = this.deps;
    for (const domain of DCI_DOMAINS) {
      registerAsyncRoutes(app, {
        domain,
        searchable: this.deps.searchDomains.has(domain),
        tokens,
        envelopes: this.deps.envelopes,
        store: this.transactions,
        txnStatus: this.txnStatus,
        onAccepted: () => this.executor.wake(),
        limits: { maxBatchItems: config.MAX_BATCH_ITEMS },
        reader,
        replay,
      });
      registerCallbackReceivers(app, { domain, tokens, outbound: this.outbound, reader: callbackReader, relay: this.relay });
    }
    registerOperatorRoutes(app, { transactions: this.transactions, deliveries: this.deliveries, audit: this.deps.audit, horizonSeconds: config.CALLBACK_HORIZON_SECONDS });
  }

  /** Starts this process's workers; whatever is due (including work of a process that died) is picked up at once. */
  /** Gateway mode: async searches of these domains are forwarded upstream and the answers relayed. */
  forwardSearches(links: ReadonlyMap<string, { upstream: Peer; client: PeerClient }>): void {
    this.executor.forwards = links;
  }

  /** Registry changes were committed: look for subscribers now rather than at the next poll. */
  registryChanged(): void {
    this.fanout.wake();
  }

  async startWorkers(): Promise<void> {
    this.worker = await registerWorker(this.deps.db);
    this.executor.start(this.worker);
    this.dispatcher.start(this.worker);
    this.fanout.start();
    const prune = () => {
      this.pruningRun ??= this.prune().finally(() => (this.pruningRun = undefined));
    };
    prune();
    this.pruning = setInterval(prune, 60_000);
    this.pruning.unref();
  }

  /**
   * Forgets replay ids past their window, fails forwarded searches their upstream left unanswered too long, and deletes
   * settled async work past ASYNC_RETENTION_DAYS.
   */
  private async prune(): Promise<void> {
    const { db, config, logger } = this.deps;
    try {
      await this.replay.prune();
      if (this.executor.forwards.size > 0) {
        await this.executor.failUnansweredRelays(config.UPSTREAM_ANSWER_TIMEOUT_SECONDS).catch((err: Error) =>
          logger.warn({ err: { message: err.message } }, 'failing forwarded searches left unanswered failed; tried again in a minute'),
        );
      }
      if (config.ASYNC_RETENTION_DAYS === 0) return;
      for (const [what, rows] of [
        ['async requests', SETTLED_TRANSACTIONS],
        ['notify deliveries', SETTLED_NOTIFIES],
        ['requests sent upstream', SETTLED_OUTBOUND],
      ] as const) {
        const deleted = await deleteSettledRows(db, rows, config.ASYNC_RETENTION_DAYS);
        if (deleted > 0) logger.info({ deleted, retentionDays: config.ASYNC_RETENTION_DAYS }, `deleted settled ${what} past their retention`);
      }
    } catch (err) {
      logger.warn({ err: { message: (err as Error).message } }, 'pruning old async work failed; tried again in a minute');
    }
  }

  async stop(graceMs: number): Promise<void> {
    if (this.pruning) clearInterval(this.pruning);
    await this.pruningRun;
    if (this.worker) {
      await this.executor.stop();
      await this.fanout.stop();
      await this.dispatcher.stop(graceMs);
      await this.worker.release();
    }
    await Promise.all([this.agents.publicOnly.close(), this.agents.privateAllowed.close()]);
  }
}
