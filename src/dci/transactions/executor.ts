import type { Logger } from 'pino';
import type { Partner, PartnerDirectory } from '../../auth/partners.js';
import { scopesAllow } from '../../auth/scopes.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { DisclosureRecorder } from '../../audit/disclosures.js';
import type { CallbackHeader, EnvelopeBuilder } from '../envelope/builder.js';
import { messagePages } from '../envelope/message-pages.js';
import type { HeaderReasonCode } from '../envelope/codes.js';
import { answerSearchBatch, type SearchDomain, type SearchLimits, type SearchResponseItem } from '../search/items.js';
import type { Peer, PeerClient } from '../../gateway/peer-client.js';
import { forwardRefusal } from '../../gateway/forward-guard.js';
import type { SubscriptionService } from '../subscriptions/subscription-service.js';
import type { ClaimedDelivery } from './delivery-store.js';
import type { Transaction } from '../../db/client.js';
import type { ClaimedTransaction, ItemOutcome, NewDelivery, RequestToAnswer, TransactionStore } from './transaction-store.js';
import { canonicalTxnType, txnOnStatusHeader, type TxnStatusRequestMessage, type TxnStatusService } from './txn-status.js';
import { PollingLoop } from './polling-loop.js';
import { leadingFit } from '../../db/batcher.js';
import type { WorkerIdentity } from './worker-identity.js';

export interface ExecutorOptions {
  /** Requests claimed per round. */
  batch: number;
  pollMs: number;
  /** A callback message grows to about this size before the next items go into another page. */
  maxCallbackBytes: number;
  /** How long callbacks are retried before they are dead-lettered. */
  horizonSeconds: number;
  /** Lease of the callbacks handed straight to this process's dispatcher. */
  leaseMs: number;
  limits: SearchLimits;
}

interface Executed {
  id: number;
  outcome: ItemOutcome[];
  completedCount: number;
  deliveries: NewDelivery[];
}

/**
 * Requests of a round run together in chunks of up to this many search items, all at once within a chunk: their
 * identifier lookups and audit entries share statements, and a chunk of large batch requests holds only this many
 * items' results at a time. Chunks of 16 requests had made a round of 128 one-UIN searches wait on eight chunks one
 * after another (60 of its 75 ms), and callbacks fell behind a steady 2,000 requests/s with a quarter of the CPU idle.
 */
const ITEMS_PER_CHUNK = 128;

/**
 * Claims of a request before one that keeps failing is failed for good (txn status then says why): with the lease of
 * five minutes, about twenty minutes of retries, which a brief database failure does not exhaust.
 */
const MAX_EXECUTION_ATTEMPTS = 5;

/** An upstream that did not take a forwarded request and may later: its reason may be shown to the partner. */
class UpstreamUnavailable extends Error {}

/** A request's weight in a chunk: its batch items (search, subscribe), else 1. */
function itemCount(t: ClaimedTransaction): number {
  const m = t.request.message as { search_request?: unknown; subscribe_request?: unknown };
  const items = Array.isArray(m.search_request) ? m.search_request : Array.isArray(m.subscribe_request) ? m.subscribe_request : undefined;
  return Math.max(1, items?.length ?? 1);
}

/** Consecutive chunks of at most `maxItems` items; a request larger than that is a chunk of its own. */
export function chunksByItems(claimed: ClaimedTransaction[], maxItems: number): ClaimedTransaction[][] {
  const chunks: ClaimedTransaction[][] = [];
  for (let i = 0; i < claimed.length; ) {
    const n = leadingFit(claimed, maxItems, itemCount, i);
    chunks.push(claimed.slice(i, i + n));
    i += n;
  }
  return chunks;
}

/**
 * Runs accepted async requests (search, txn-status) and queues their callbacks. The answer and its callbacks are
 * committed together, and only by the worker still holding the request: each request is answered once.
 */
export class TransactionExecutor {
  private readonly loop: PollingLoop;
  private worker!: WorkerIdentity;
  /** Gateway mode: domains whose async searches go to an upstream registry (set once the upstreams are known). */
  forwards: ReadonlyMap<string, { upstream: Peer; client: PeerClient }> = new Map();

  constructor(
    private readonly store: TransactionStore,
    private readonly searchDomains: ReadonlyMap<string, SearchDomain>,
    private readonly partners: PartnerDirectory,
    private readonly audit: AuditLog,
    private readonly txnStatus: TxnStatusService,
    private readonly envelopes: EnvelopeBuilder,
    private readonly opts: ExecutorOptions,
    private readonly logger: Logger,
    /** This process's callback dispatcher: new callbacks go to it directly, leased, as far as it has room. */
    private readonly dispatcher: { room(partnerId: string): number; deliverLeased(d: ClaimedDelivery[]): void; wake(): void },
    private readonly subscriptions: SubscriptionService,
  ) {
    this.loop = new PollingLoop(() => this.round(), opts.pollMs, (err) => logger.error({ err: { message: err.message } }, 'executing async requests failed'));
  }

  start(worker: WorkerIdentity): void {
    this.worker = worker;
    this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Claims and runs a batch; true when the batch was full (more may be waiting). */
  private async round(): Promise<boolean> {
    const claimed = await this.store.claimReceived(this.worker.id, this.opts.batch);
    if (claimed.length > 0) await this.executeAll(claimed);
    return claimed.length >= this.opts.batch;
  }

  private async executeAll(claimed: ClaimedTransaction[]): Promise<void> {
    const executed: Executed[] = [];
    for (const chunk of chunksByItems(claimed, ITEMS_PER_CHUNK)) {
      const answers = await Promise.all(
        chunk.map(async (t) => {
          try {
            return await this.execute(t);
          } catch (err) {
            const message = (err as Error).message;
            if (t.attempts >= MAX_EXECUTION_ATTEMPTS) {
              this.logger.error({ err: { message }, transaction: t.id, attempts: t.attempts }, 'async request failed for good');
              // Any other reason stays in the log: the partner sees last_error, and it may name our internals. Should
              // this fail too, the request stays claimed and the next claim fails it.
              const reason = err instanceof UpstreamUnavailable ? `${message} (${t.attempts} attempts)` : `it could not be executed (${t.attempts} attempts; the server log has the reason)`;
              await this.fail(t, reason).catch((e: Error) =>
                this.logger.error({ err: { message: e.message }, transaction: t.id }, 'failing the async request failed'),
              );
              return undefined;
            }
            // Left claimed: retried once the lease runs out (a database failure here is usually brief).
            this.logger.error({ err: { message }, transaction: t.id, attempts: t.attempts }, 'async request failed; will retry');
            return undefined;
          }
        }),
      );
      for (const a of answers) if (a) executed.push(a);
    }
    const room = new Map<string, number>();
    for (const d of executed.flatMap((e) => e.deliveries)) {
      const left = room.get(d.partnerId) ?? this.dispatcher.room(d.partnerId);
      // A later page waits for the one before it (DeliveryStore.claimDue): only a request's first goes out at once.
      d.leased = left > 0 && d.page === 1;
      if (d.leased) room.set(d.partnerId, left - 1);
    }
    const leased = await this.store.completeExecution(this.worker.id, executed, { horizonSeconds: this.opts.horizonSeconds, leaseMs: this.opts.leaseMs });
    this.dispatcher.deliverLeased(leased);
    if (executed.some((e) => e.deliveries.some((d) => !d.leased && d.page === 1))) this.dispatcher.wake();
  }

  private async execute(t: ClaimedTransaction): Promise<Executed | undefined> {
    const forward = t.action === 'search' ? this.forwards.get(t.domain) : undefined;
    if (forward) return this.forward(t, forward);
    if (t.action === 'search') {
      const domain = this.searchDomains.get(t.domain);
      if (!domain) {
        await this.fail(t, `domain ${t.domain} no longer serves search`, 'rjct.action.not_supported');
        return undefined;
      }
      const items = (t.request.message as { search_request: Record<string, unknown>[] }).search_request;
      const partner = await this.searcher(t);
      if (!partner) return undefined;
      const header = t.request.header as { message_id?: string };
      const disclosures = new DisclosureRecorder(this.audit, {
        partnerId: t.sender_id,
        domain: t.domain,
        action: 'search',
        transactionId: t.transaction_id,
        messageId: header.message_id,
        fields: partner.fields,
      });
      const results = await answerSearchBatch(domain, items, this.opts.limits, disclosures.handling(partner));
      await disclosures.commit();
      return { id: t.id, outcome: results.map(outcomeOf), completedCount: results.length, deliveries: await this.searchCallbacks(t, results) };
    }
    if (t.action === 'txn-status') {
      const { found, message } = await this.txnStatus.answer(t.domain, t.sender_id, t.request.message as unknown as TxnStatusRequestMessage, t.correlation_id);
      const header = this.envelopes.callbackHeader(txnOnStatusHeader(found, t.sender_id));
      const outcome: ItemOutcome = { reference_id: (t.request.message as unknown as TxnStatusRequestMessage).txnstatus_request.reference_id, status: found ? 'succ' : 'rjct' };
      return { id: t.id, outcome: [outcome], completedCount: 1, deliveries: [await this.delivery(t, header, message, 1)] };
    }
    if (t.action === 'subscribe') return this.subscribe(t);
    if (t.action === 'unsubscribe') return this.unsubscribe(t);
    await this.fail(t, `unknown async action ${t.action}`);
    return undefined;
  }

  /** The partner of a search if it may still search its domain; otherwise the request is failed (undefined). */
  private async searcher(t: ClaimedTransaction): Promise<Partner | undefined> {
    const partner = await this.partners.current(t.sender_id);
    // Removed since it asked: answered, its whole records would wait in the callback queue for a partner of that id.
    if (!partner) {
      await this.fail(t, `partner ${t.sender_id} is no longer registered`);
      return undefined;
    }
    // Its search scope withdrawn since the ACK (its tokens lose it at once, AccessTokens.verify): no records for it.
    if (!scopesAllow(partner.scopes, t.domain, 'search')) {
      await this.fail(t, `partner ${t.sender_id} no longer holds the scope ${t.domain}:registry.search`);
      return undefined;
    }
    return partner;
  }

  /**
   * Fails a request and tells its partner, who is waiting for the callback: the action's callback with header `rjct`,
   * nothing completed and the answer's members empty, as a sync request refused as a whole is answered. The request
   * is failed either way; the callback is left out when there is no partner to sign it for or no callback to build.
   */
  private async fail(t: ClaimedTransaction, error: string, reasonCode?: HeaderReasonCode): Promise<void> {
    const delivery = await this.rejectionDelivery(t, error, reasonCode);
    await this.store.failExecution(this.worker.id, t.id, error, delivery && { delivery, horizonSeconds: this.opts.horizonSeconds });
    if (delivery) this.dispatcher.wake();
  }

  /** Numbered when it is queued, after any pages an upstream did send (NewDelivery.page). */
  private async rejectionDelivery(t: RequestToAnswer, error: string, reasonCode?: HeaderReasonCode): Promise<NewDelivery | undefined> {
    const reason = `the request failed: ${error}`;
    const rejection = rejectionCallback(t, reason);
    if (!rejection || !this.partners.get(t.sender_id)) return undefined;
    const header = this.envelopes.callbackHeader({ action: rejection.action, status: 'rjct', reasonCode, reasonMessage: reason, receiverId: t.sender_id, totalCount: t.total_count, completedCount: 0 });
    return this.delivery(t, header, rejection.message).catch((e: Error) => {
      // e.g. a partner asking for encrypted messages that publishes no key: txn status still tells.
      this.logger.warn({ err: { message: e.message }, transaction: t.id }, "the failed request's callback could not be built");
      return undefined;
    });
  }

  /**
   * Gateway mode: fails the forwarded searches whose upstream has sent no final answer within `timeoutSeconds` and
   * tells their callers, as for any failed request (after the pages relayed so far, if any); the upstream's requests
   * are marked unanswered, and an answer arriving later is not relayed. Returns how many requests failed.
   */
  async failUnansweredRelays(timeoutSeconds: number): Promise<number> {
    const awaiting = await this.store.awaitingRelays(timeoutSeconds, 100);
    if (awaiting.length === 0) return 0;
    const failing = new Map<number, { error: string; delivery?: NewDelivery }>();
    for (const a of awaiting) {
      if (!a.waiting || failing.has(a.id)) continue;
      const error = `the upstream ${a.peer_id} sent no ${a.relayed > 0 ? `final answer (${a.relayed} ${a.relayed === 1 ? 'page' : 'pages'} relayed)` : 'answer'} within ${timeoutSeconds} s`;
      failing.set(a.id, { error, delivery: await this.rejectionDelivery(a, error) });
    }
    const failed = await this.store.expireRelays(
      awaiting.map((a) => a.outbound_id),
      [...failing].map(([transactionId, f]) => ({ transactionId, ...f })),
      this.opts.horizonSeconds,
    );
    if (failed > 0) {
      this.logger.warn({ failed, timeoutSeconds }, 'forwarded searches failed: their upstream sent no answer in time');
      this.dispatcher.wake();
    }
    return failed;
  }

  /**
   * Sends the search to the upstream registry; its on-search is relayed to the partner when it arrives (CallbackRelay),
   * so the request stays pending here until then. A refusal by the upstream fails the request; an upstream that is
   * down or busy (no answer, 429, 502-504) gets it again with the next claim, as any request whose execution failed.
   * A retry after a timeout may reach an upstream that had taken the first: both sends may then be answered, and the
   * relay passes on the answers of the send answered first (CallbackRelay).
   */
  private async forward(t: ClaimedTransaction, link: { upstream: Peer; client: PeerClient }): Promise<Executed | undefined> {
    const asked = (t.request.message as { search_request: Record<string, unknown>[] }).search_request;
    const partner = await this.searcher(t);
    if (!partner) return undefined;
    // Items the partner may not ask are answered by us, as a local search answers them; the relay adds them to the
    // upstream's final page (CallbackRelay).
    const handling = new DisclosureRecorder(this.audit, { partnerId: t.sender_id, domain: t.domain, action: 'search' }).handling(partner);
    const refusals = asked.map((item) => forwardRefusal(this.searchDomains.get(t.domain), item, handling));
    const items = asked.filter((_, i) => !refusals[i]);
    if (items.length === 0) {
      const results = refusals as SearchResponseItem[];
      return { id: t.id, outcome: results.map(outcomeOf), completedCount: results.length, deliveries: await this.searchCallbacks(t, results) };
    }
    // Sent under our correlation id, not the caller's transaction_id: that is unique per sender only (DIGEST 2.5), and
    // the upstream's answers are matched to the request by it (OutboundStore.match); every send of one request shares it.
    const sent = await link.client.search(link.upstream, t.domain, { transaction_id: t.correlation_id, search_request: items }, t.id);
    if (sent.state === 'refused' && sent.retryable) throw new UpstreamUnavailable(`the upstream ${link.upstream.id} did not take it: ${sent.error}`);
    if (sent.state === 'refused') {
      await this.fail(t, `the upstream ${link.upstream.id} refused it: ${sent.error}`);
      return undefined;
    }
    // No item has an outcome yet: the relay records the upstream's, page by page (CallbackRelay.relay).
    return { id: t.id, outcome: [], completedCount: 0, deliveries: [] };
  }

  /**
   * Executes a request that writes (subscribe, unsubscribe) and records its answer in one commit (whileHeld): written
   * in a commit of its own, a subscription outlived a failed commit of the answer or a worker that died before it, and
   * the request's next execution refused it as its own duplicate (rjct.event.already_subscribed).
   */
  private async applyOnce(t: ClaimedTransaction, apply: (tx: Transaction) => Promise<Omit<Executed, 'id'>>): Promise<undefined> {
    // The answer is built inside the transaction: its partner's key is fetched before, not while the locks are held
    // (on the embedded database, while the whole database waits).
    const partner = this.partners.get(t.sender_id);
    if (partner) await this.envelopes.prepareFor(partner);
    const done = await this.store.whileHeld(this.worker.id, t.id, async (tx) => {
      const executed = await apply(tx);
      await this.store.completeExecution(this.worker.id, [{ id: t.id, ...executed }], { horizonSeconds: this.opts.horizonSeconds, leaseMs: this.opts.leaseMs }, tx);
      return true;
    });
    if (done) this.dispatcher.wake();
    return undefined;
  }

  private async subscribe(t: ClaimedTransaction): Promise<undefined> {
    const partner = await this.partners.current(t.sender_id);
    if (!partner) {
      await this.fail(t, `partner ${t.sender_id} is no longer registered`);
      return undefined;
    }
    const items = (t.request.message as { subscribe_request: Record<string, unknown>[] }).subscribe_request;
    // Notifies go to the partner's registered base + /registry/notify, else to where it asked on-subscribe to go.
    const base = partner.callbacks?.baseUrl;
    const notifyUrl = base ? `${base.replace(/\/+$/, '')}/registry/notify` : t.callback_url;
    return this.applyOnce(t, async (tx) => {
      const results = await this.subscriptions.subscribe(tx, t.domain, partner, items, notifyUrl);
      // DIGEST 2.3: the header says the message was processed; refusals are per item, with their reason codes.
      const header = this.envelopes.callbackHeader({
        action: 'on-subscribe',
        status: 'succ',
        receiverId: t.sender_id,
        totalCount: results.length,
        completedCount: results.length,
      });
      const message = { transaction_id: t.transaction_id, correlation_id: t.correlation_id, subscribe_response: results };
      const outcome: ItemOutcome[] = results.map((r) => (r.status === 'succ' ? { reference_id: r.reference_id, status: 'succ' } : { reference_id: r.reference_id, status: 'rjct', status_reason_code: r.status_reason_code, status_reason_message: r.status_reason_message }));
      return { outcome, completedCount: results.length, deliveries: [await this.delivery(t, header, message, 1)] };
    });
  }

  private async unsubscribe(t: ClaimedTransaction): Promise<undefined> {
    const message = t.request.message as { transaction_id?: string; subscription_codes?: unknown; sunscription_codes?: unknown };
    // DIGEST 3.6: core/DR/FR spell it sunscription_codes.
    const codes = ((message.subscription_codes ?? message.sunscription_codes ?? []) as unknown[]).map(String);
    return this.applyOnce(t, async (tx) => {
      const result = await this.subscriptions.unsubscribe(tx, t.domain, t.sender_id, codes);
      // DIGEST 2.3: the header says the message was processed; the message's own status says what became of the codes.
      const header = this.envelopes.callbackHeader({ action: 'on-unsubscribe', status: 'succ', receiverId: t.sender_id, totalCount: 1, completedCount: 1 });
      const body = {
        transaction_id: t.transaction_id,
        correlation_id: t.correlation_id,
        timestamp: new Date().toISOString(),
        status: result.status,
        // A reason code is a refusal's (DIGEST 2.4): with succ (some codes ended, others not) only the explanation.
        ...(result.reason ? { ...(result.status === 'rjct' ? { status_reason_code: result.reason.code } : {}), status_reason_message: result.reason.message } : {}),
        subscription_status: result.subscription_status,
      };
      const outcome: ItemOutcome = result.status === 'succ' ? { reference_id: t.transaction_id, status: 'succ' } : { reference_id: t.transaction_id, status: 'rjct', status_reason_code: result.reason?.code, status_reason_message: result.reason?.message };
      return { outcome: [outcome], completedCount: 1, deliveries: [await this.delivery(t, header, body, 1)] };
    });
  }

  /**
   * on-search messages within maxCallbackBytes each as sent (DIGEST 1.3: "multiple responses for each page can be pushed"):
   * every page but the last says `pdng`, the last `succ`; completed_count counts the items answered so far.
   */
  private searchCallbacks(t: ClaimedTransaction, results: SearchResponseItem[]): Promise<NewDelivery[]> {
    const encrypted = this.partners.get(t.sender_id)?.encryptResponses;
    // An answer of no items is still one message.
    const pages = results.length === 0 ? [[]] : messagePages(results, { maxBytes: this.opts.maxCallbackBytes, encrypted });
    let completed = 0;
    const deliveries = pages.map((items, i) => {
      completed += items.length;
      const last = i === pages.length - 1;
      const header = this.envelopes.callbackHeader({
        action: 'on-search',
        status: last ? 'succ' : 'pdng',
        receiverId: t.sender_id,
        totalCount: t.total_count,
        completedCount: completed,
      });
      const message = { transaction_id: t.transaction_id, correlation_id: t.correlation_id, search_response: items };
      return this.delivery(t, header, message, i + 1);
    });
    return Promise.all(deliveries);
  }

  private async delivery(t: RequestToAnswer, header: CallbackHeader, message: unknown, page?: number): Promise<NewDelivery> {
    const stored = await this.envelopes.storedCallback(this.partners.get(t.sender_id), header, message);
    return { transactionId: t.id, partnerId: t.sender_id, action: header.action, messageId: header.message_id, page, targetUrl: t.callback_url, ...stored };
  }
}

/** The callback action and empty answer that tell a partner its request of this action failed as a whole. */
function rejectionCallback(t: RequestToAnswer, reason: string): { action: string; message: Record<string, unknown> } | undefined {
  const ids = { transaction_id: t.transaction_id, correlation_id: t.correlation_id };
  switch (t.action) {
    case 'search':
      return { action: 'on-search', message: { ...ids, search_response: [] } };
    case 'subscribe':
      return { action: 'on-subscribe', message: { ...ids, subscribe_response: [] } };
    case 'unsubscribe':
      return { action: 'on-unsubscribe', message: { ...ids, timestamp: new Date().toISOString(), status: 'rjct', status_reason_message: reason.slice(0, 999), subscription_status: [] } };
    case 'txn-status': {
      const txnType = (t.request.message as { txnstatus_request?: { txn_type?: unknown } }).txnstatus_request?.txn_type;
      return { action: 'txn-on-status', message: { ...ids, txnstatus_response: { txn_type: canonicalTxnType(txnType), txn_status: { ...ids, search_response: [] } } } };
    }
    default:
      return undefined;
  }
}

function outcomeOf(r: SearchResponseItem): ItemOutcome {
  return r.status === 'succ'
    ? { reference_id: r.reference_id, status: 'succ' }
    : { reference_id: r.reference_id, status: 'rjct', status_reason_code: r.status_reason_code, status_reason_message: r.status_reason_message };
}
