import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { type Agent, request } from 'undici';
import type { PartnerDirectory } from '../../auth/partners.js';
import type { PeerTokens } from '../../auth/peer-tokens.js';
import type { EnvelopeSigner } from '../signing/signer.js';
import { retryDelayMs } from './backoff.js';
import { checkCallbackUrl } from './callback-target.js';
import type { AttemptResult, ClaimedDelivery, DeliveryStore } from './delivery-store.js';
import { Wakeup } from './wakeup.js';
import type { WorkerIdentity } from './worker-identity.js';
import { readBoundedText } from '../../http/bounded-body.js';
import { ackMessageOf } from '../envelope/normalize.js';

export interface DispatcherOptions {
  /** Longest we wait for a receiver's answer; a hanging receiver costs one slot this long. */
  timeoutMs: number;
  retryBaseMs: number;
  retryCapMs: number;
  /** Callbacks in flight at once in this process. */
  concurrency: number;
  /** Default per-partner cap (a partner's `callbacks.maxConcurrent` overrides it). */
  perPartner: number;
  pollMs: number;
}

/**
 * How many callbacks per partner a worker takes (in flight and queued), in multiples of the partner's cap. The
 * executor leases a round's callbacks to its own dispatcher up to this room, so that they need no claim: with 4, most
 * of a 128-request round went back to the queue, and claiming them cost PostgreSQL more than looking up the records.
 */
const QUEUE_FACTOR = 16;

/** The part of a receiver's answer we keep. */
const MAX_ANSWER_BYTES = 16 * 1024;

/**
 * Delivers queued callbacks: at least once, signed afresh at each attempt, retried with backoff until the delivery's
 * horizon, stopped by 410 Gone. Slots are shared by all partners but capped per partner, so a partner whose
 * receiver hangs only ties up its own slots.
 */
export class CallbackDispatcher {
  private readonly wakeup = new Wakeup();
  private running = false;
  private loop?: Promise<void>;
  private readonly inFlight = new Map<string, number>();
  private inFlightTotal = 0;
  private readonly waiting = new Map<string, ClaimedDelivery[]>();
  private readonly results: AttemptResult[] = [];
  private flushing?: Promise<void>;
  private readonly aborts = new AbortController();
  private worker!: WorkerIdentity;
  private drained?: () => void;

  constructor(
    private readonly store: DeliveryStore,
    private readonly partners: PartnerDirectory,
    private readonly signer: EnvelopeSigner,
    private readonly peerTokens: PeerTokens,
    private readonly agents: { publicOnly: Agent; privateAllowed: Agent },
    private readonly opts: DispatcherOptions,
    private readonly logger: Logger,
  ) {
    // Every callback in flight listens on this one signal (up to CALLBACK_CONCURRENCY at once, each removed when its
    // request ends): Node's leak warning at 11 listeners would be a false alarm in the logs.
    setMaxListeners(0, this.aborts.signal);
  }

  start(worker: WorkerIdentity): void {
    this.worker = worker;
    this.running = true;
    this.loop = this.run();
  }

  /** New callbacks are queued: look now instead of at the next poll. */
  wake(): void {
    this.wakeup.wake();
  }

  /**
   * A partner holds up to twice QUEUE_FACTOR x its cap callbacks here (a claim may come just before the partner
   * counts as busy): each waits at most that many timeouts / cap. A lease only matters for a live but
   * stuck worker: a dead one's leases are taken over at once (STALE_LEASE).
   */
  get leaseMs(): number {
    return this.opts.timeoutMs * (2 * QUEUE_FACTOR + 4) + 10_000;
  }

  /** How many new callbacks of a partner this worker will take straight from its executor (already leased to it). */
  room(partnerId: string): number {
    return this.running ? Math.max(0, this.capOf(partnerId) * QUEUE_FACTOR - this.queuedFor(partnerId)) : 0;
  }

  /** Callbacks the executor queued and leased to this worker: delivered without another claim. */
  deliverLeased(deliveries: ClaimedDelivery[]): void {
    for (const d of deliveries) this.enqueue(d);
  }

  /** Stops claiming, lets deliveries in flight finish for up to `graceMs`, then aborts them and records what is known. */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    this.wakeup.wake();
    await this.loop;
    if (this.inFlightTotal > 0) {
      await Promise.race([new Promise<void>((r) => (this.drained = r)), new Promise((r) => setTimeout(r, graceMs).unref())]);
      this.aborts.abort();
      if (this.inFlightTotal > 0) await new Promise<void>((r) => (this.drained = r));
    }
    await this.flush();
  }

  private capOf(partnerId: string): number {
    return this.partners.get(partnerId)?.callbacks?.maxConcurrent ?? this.opts.perPartner;
  }

  private queuedFor(partnerId: string): number {
    return (this.inFlight.get(partnerId) ?? 0) + (this.waiting.get(partnerId)?.length ?? 0);
  }

  /**
   * Claims in batches (one query for up to twice the slots) and keeps a short local queue per partner: a claim per
   * freed slot would cost a query per callback. A partner gets at most QUEUE_FACTOR times its cap per claim, and its
   * leases cover that queue even when every attempt runs into the timeout.
   */
  private async run(): Promise<void> {
    while (this.running) {
      const held = this.inFlightTotal + [...this.waiting.values()].reduce((n, q) => n + q.length, 0);
      let claimed: ClaimedDelivery[] = [];
      const limit = 2 * this.opts.concurrency - held;
      if (held < this.opts.concurrency) {
        const perPartner = this.opts.perPartner * QUEUE_FACTOR;
        // A partner with a cap of its own gets that many times QUEUE_FACTOR, so that its lease covers its queue.
        const partnerLimits = new Map<string, number>();
        for (const p of this.partners.all()) if (p.callbacks?.maxConcurrent !== undefined) partnerLimits.set(p.id, p.callbacks.maxConcurrent * QUEUE_FACTOR);
        const busyPartners = [...new Set([...this.inFlight.keys(), ...this.waiting.keys()])].filter((id) => this.queuedFor(id) >= this.capOf(id) * QUEUE_FACTOR);
        try {
          claimed = await this.store.claimDue(this.worker.id, { limit, perPartner, partnerLimits, busyPartners, leaseMs: this.leaseMs });
        } catch (err) {
          this.logger.error({ err: { message: (err as Error).message } }, 'claiming callbacks failed');
        }
        for (const d of claimed) this.enqueue(d);
      }
      // A short claim took everything claimable now (each partner's share, or all that is due): claiming again at
      // once would only find the same partners at their caps. The next completion or new callback wakes the loop.
      if (this.running && (claimed.length < limit || held >= this.opts.concurrency)) await this.wakeup.wait(this.opts.pollMs);
    }
  }

  private enqueue(d: ClaimedDelivery): void {
    const n = this.inFlight.get(d.partner_id) ?? 0;
    if (n >= this.capOf(d.partner_id)) {
      const queue = this.waiting.get(d.partner_id) ?? [];
      queue.push(d);
      this.waiting.set(d.partner_id, queue);
      return;
    }
    this.inFlight.set(d.partner_id, n + 1);
    this.inFlightTotal++;
    void this.attempt(d).then((result) => {
      this.results.push(result);
      void this.flush();
      this.inFlightTotal--;
      const left = (this.inFlight.get(d.partner_id) ?? 1) - 1;
      if (left === 0) this.inFlight.delete(d.partner_id);
      else this.inFlight.set(d.partner_id, left);
      const next = this.waiting.get(d.partner_id)?.shift();
      if (this.waiting.get(d.partner_id)?.length === 0) this.waiting.delete(d.partner_id);
      if (next) this.enqueue(next);
      // Refill before the partner's queue runs dry, not after every callback.
      if (this.queuedFor(d.partner_id) <= this.capOf(d.partner_id) * 2) this.wakeup.wake();
      if (this.inFlightTotal === 0) this.drained?.();
    });
  }

  /** Records finished attempts in batches: one database transaction however many finished meanwhile. */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = (async () => {
      while (this.results.length > 0) {
        const batch = this.results.splice(0, 500);
        try {
          if (await this.store.record(this.worker.id, batch)) this.wakeup.wake();
        } catch (err) {
          // The leases stay ours until they run out; the next attempt after that repeats the delivery (at least once).
          this.logger.error({ err: { message: (err as Error).message }, deliveries: batch.length }, 'recording callback attempts failed');
        }
      }
      this.flushing = undefined;
    })();
    return this.flushing;
  }

  private async attempt(d: ClaimedDelivery): Promise<AttemptResult> {
    const startedAt = new Date();
    const t0 = performance.now();
    const done = (httpStatus: number | null, error: string | null, state: AttemptResult['state']): AttemptResult => {
      let nextAttemptAt: Date | null = null;
      if (state === 'pending') {
        nextAttemptAt = new Date(Date.now() + retryDelayMs(d.attempts, { baseMs: this.opts.retryBaseMs, capMs: this.opts.retryCapMs }));
        if (nextAttemptAt.getTime() > new Date(d.give_up_at).getTime()) {
          state = 'dead';
          nextAttemptAt = null;
          this.logger.warn({ delivery: d.id, partner: d.partner_id, attempts: d.attempts, error }, 'callback dead-lettered after its retry horizon');
        }
      }
      return { id: d.id, attempt: d.attempts, startedAt, durationMs: Math.round(performance.now() - t0), httpStatus, error, state, nextAttemptAt };
    };

    const partner = this.partners.get(d.partner_id);
    const callbacks = partner?.callbacks;
    if (!callbacks) return done(null, `partner ${d.partner_id} has no callback settings`, 'pending');
    let url: URL;
    try {
      // The partner's policy may have changed since the request was accepted.
      url = checkCallbackUrl(d.target_url, callbacks);
    } catch (err) {
      return done(null, `callback target refused: ${(err as Error).message}`, 'pending');
    }
    try {
      const token = await this.peerTokens.bearer(callbacks.auth);
      const res = await request(url, {
        method: 'POST',
        body: this.signer.resign(d.body, d.digest, partner!.signatureFormat),
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'user-agent': 'dci-gateway',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        dispatcher: callbacks.allowPrivateNetwork ? this.agents.privateAllowed : this.agents.publicOnly,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        signal: this.aborts.signal,
      });
      const { text: answer } = await readBoundedText(res.body, { maxBytes: MAX_ANSWER_BYTES, deadlineMs: this.opts.timeoutMs });
      if (res.statusCode === 401) this.peerTokens.invalidate(callbacks.auth);
      if (res.statusCode === 410) return done(410, 'receiver answered 410 Gone: no further attempts', 'gone');
      if (res.statusCode < 200 || res.statusCode >= 300) return done(res.statusCode, `receiver answered HTTP ${res.statusCode}`, 'pending');
      const refusal = ackRefusal(answer);
      if (refusal) return done(res.statusCode, refusal, 'pending');
      return done(res.statusCode, null, 'delivered');
    } catch (err) {
      return done(null, describeFailure(err, this.opts.timeoutMs), 'pending');
    }
  }
}

/** A 2xx whose ACK body says ERR is a refusal, not a delivery (DIGEST 2.6). */
function ackRefusal(answer: string): string | undefined {
  if (!answer.trim().startsWith('{')) return undefined;
  try {
    const ack = ackMessageOf(JSON.parse(answer));
    if (String(ack?.ack_status ?? '').toUpperCase() !== 'ERR') return undefined;
    return `receiver answered ERR ${String(ack?.error?.code ?? '')} ${String(ack?.error?.message ?? '')}`.trim().slice(0, 500);
  } catch {
    return undefined;
  }
}

function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') return `no answer within ${timeoutMs} ms`;
  if (e.name === 'AbortError') return 'aborted: the server shut down during the attempt';
  const code = e.code ?? e.cause?.code;
  const message = e.cause?.message ?? e.message ?? String(err);
  return (code ? `${code}: ${message}` : message).slice(0, 500);
}
