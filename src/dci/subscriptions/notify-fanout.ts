import { randomUUID } from 'node:crypto';
import { and, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Partner, PartnerDirectory } from '../../auth/partners.js';
import { scopesAllow } from '../../auth/scopes.js';
import type { AuditLog, Disclosure } from '../../audit/audit-log.js';
import { registryIdsOf } from '../../audit/disclosures.js';
import type { Database } from '../../db/client.js';
import type { EnvelopeBuilder } from '../envelope/builder.js';
import { compileQuery, QueryRejection } from '../query/index.js';
import { partnerCatalog } from '../search/field-guard.js';
import type { SearchDomain } from '../search/items.js';
import { messagePages } from '../envelope/message-pages.js';
import { projectionOf } from '../search/projection.js';
import { insertDeliveries, type NewDelivery } from '../transactions/transaction-store.js';
import { PollingLoop } from '../transactions/polling-loop.js';
import { domainNotifies, nextBatchAt, notifiedEventType } from './event-types.js';

type Tx = Pick<Database, 'query' | 'run'>;


interface RegistryEvent {
  id: number;
  event_id: string;
  event_type: string;
  individual_id: number | null;
  group_id: number | null;
  recorded_at: string;
  source: string;
}

interface Subscription {
  id: number;
  code: string;
  domain: string;
  partner_id: string;
  event_types: string[];
  reg_event_type: string;
  record_type: string;
  filter: { filter_type: string; filter: unknown } | null;
  frequency: string | null;
  notify_url: string;
  next_batch_at: string | null;
  created_at: string;
  start_time: string | null;
  end_time: string | null;
}

const SUBSCRIPTION_COLUMNS = 'id, code, domain, partner_id, event_types, reg_event_type, record_type, filter, frequency, notify_url, next_batch_at, created_at, start_time, end_time';

const instant = (v: unknown) => new Date(v as string).getTime();

/**
 * Does the subscription cover an event recorded at `recordedAt`? By when the event was recorded, not when the round
 * reads it: a backlog (workers restarting, a burst) must neither disclose an event from before the subscription or its
 * start_time, nor drop one from before its end_time.
 */
function covers(sub: Subscription, event: RegistryEvent): boolean {
  const at = instant(event.recorded_at);
  return (
    sub.event_types.includes(event.event_type) &&
    domainNotifies(sub.domain, event.event_type) &&
    instant(sub.created_at) <= at &&
    (sub.start_time === null || instant(sub.start_time) <= at) &&
    (sub.end_time === null || at < instant(sub.end_time))
  );
}
const EVENTS_PER_ROUND = 200;

/** The change an event belongs to: one change writes its events together, in one statement (NotifyFanout.changeOf). */
const changeKey = (event: RegistryEvent) => `${instant(event.recorded_at)} ${event.source}`;

/**
 * A full page of events without the change it ends in, which may go on past it: that change's events wait for the next
 * round, whole, or a subscriber of several of its types heard twice of a record it touched. A page of one change only
 * is taken as it is.
 */
function wholeChanges(events: RegistryEvent[]): RegistryEvent[] {
  const last = changeKey(events[events.length - 1]);
  let end = events.length;
  while (end > 0 && changeKey(events[end - 1]) === last) end--;
  return end > 0 ? events.slice(0, end) : events;
}
/**
 * Least time between the starts of two rounds woken by changes. Every committed change wakes the fan-out: during a
 * CRVS burst of one death per message it ran a round for every few events, which cost 1.5-2 ms of CPU per death.
 * Single deaths/s on the bench database: 283-302 without the gap, 399-430 with it, 362-450 with no workers at all. A
 * change waits at most this long for its round (the notify latency target is a second).
 */
const ROUND_GAP_MS = 50;
/**
 * How long the notifies of a subscription that cannot be built for its partner (it asks for encrypted messages and we
 * have no key of its to encrypt to) wait before they are built again: the partner may publish a key meanwhile.
 */
const HELD_RETRY_SECONDS = 60;

/** The notify of a subscription could not be built for its partner: its events wait (NotifyFanout.hold). */
const HELD = Symbol('held');

/**
 * Turns registry events into notifies (DIGEST 3.5). One process at a time (the round locks the `notify` row of
 * event_cursors) takes the oldest events of the notify queue, matches each against the active subscriptions (event
 * type, time window, the subscription's filter over the record), and writes the notify callbacks in the same
 * transaction that takes the events off the queue: every committed event is matched once, whenever its transaction
 * committed, and every notify is then delivered at least once by the callback machinery,
 * with a `reference_id` (the event id) that stays the same across retries so subscribers can de-duplicate.
 * Subscriptions with a frequency collect their events and get them when their batch is due, MAX_BATCH_ITEMS to a notify.
 */
export class NotifyFanout {
  private readonly loop: PollingLoop;
  /** Subscriptions whose stored filter or frequency this version refuses, or whose notify cannot be built, already reported in the log. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly db: Database,
    private readonly domains: ReadonlyMap<string, SearchDomain>,
    private readonly partners: PartnerDirectory,
    private readonly audit: AuditLog,
    private readonly envelopes: EnvelopeBuilder,
    /** maxItems, maxBytes: the most events, and about the most bytes of them, one notify carries. */
    private readonly opts: { pollMs: number; horizonSeconds: number; maxItems: number; maxBytes: number },
    private readonly logger: Logger,
    private readonly dispatcher: { wake(): void },
  ) {
    this.loop = new PollingLoop(
      async () => {
        await this.prepareKeys();
        return (await this.round()) || (await this.dueBatches());
      },
      opts.pollMs,
      (err) => logger.error({ err: { message: err.message } }, 'notify fan-out failed; will retry'),
      ROUND_GAP_MS,
    );
  }

  start(): void {
    this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /**
   * Fetches ahead, before a round takes its locks, the keys of subscribers that ask for encrypted messages
   * (EnvelopeBuilder.prepareFor): fetched while a notify was built inside the round, a slow or dead JWKS endpoint held
   * the fan-out's cursor, and with it every subscribe, for up to the fetch timeout, and on the embedded database every
   * statement.
   */
  private async prepareKeys(): Promise<void> {
    const sealed = [...this.partners.all()].filter((p) => p.encryptResponses);
    if (sealed.length === 0) return;
    const subscribed = await this.db.query<{ partner_id: string }>(
      `select distinct partner_id from subscriptions where status = 'subscribe' and partner_id = any($1::text[])`,
      [sealed.map((p) => p.id)],
    );
    const ids = new Set(subscribed.map((r) => r.partner_id));
    await Promise.all(sealed.filter((p) => ids.has(p.id)).map((p) => this.envelopes.prepareFor(p)));
  }

  /** One round over the next events; true when it read a full page of them (more may be waiting). */
  async round(): Promise<boolean> {
    let full = false;
    const queued = await this.db.transaction(async (tx) => {
      // Skipped too while a subscribe is being written (it holds the row FOR SHARE: SubscriptionService.holdFanOut).
      const [mine] = await tx.query(`select 1 from event_cursors where name = 'notify' for update skip locked`);
      if (!mine) return 0;
      // The queue's first ids, then their events by key: as a join, PostgreSQL walked the events from the very first,
      // every one already notified, to meet the queue (a merge join; 8 ms a round at 16,000 events and growing).
      const read = await tx.query<RegistryEvent>(
        `select e.id, e.event_id, e.event_type, e.individual_id, e.group_id, e.recorded_at, e.source from registry_events e
         where e.id = any(array(select q.registry_event_id from notify_queue q order by q.registry_event_id limit ${EVENTS_PER_ROUND}))
         order by e.id`,
      );
      if (read.length === 0) return 0;
      full = read.length === EVENTS_PER_ROUND;
      const events = full ? wholeChanges(read) : read;
      const recorded = events.map((e) => instant(e.recorded_at));
      // Instants in milliseconds, times in the table in microseconds: the latest event's millisecond is taken whole, or a
      // subscription made at .000200 was not read for an event recorded at .000400, which `covers` would have taken.
      const latest = Math.max(...recorded) + 1;
      // Shared locks: an unsubscribe (FOR UPDATE) waits for this round, then withdraws what it queued.
      const matching = await tx.query<Subscription>(
        `select ${SUBSCRIPTION_COLUMNS} from subscriptions
         where status = 'subscribe' and event_types && $1::text[] and created_at < $3::timestamptz
           and (start_time is null or start_time < $3::timestamptz) and (end_time is null or end_time > $2::timestamptz)
         order by id for share`,
        [[...new Set(events.map((e) => e.event_type))], new Date(Math.min(...recorded)).toISOString(), new Date(latest).toISOString()],
      );
      // A partner added by another process since this one read the partners (its subscribe run there): read them again,
      // or its subscription would be judged by a list without it and these events left out for it.
      if (matching.some((sub) => !this.partners.get(sub.partner_id))) await this.partners.refresh(tx);
      const subscriptions = matching.filter((sub) => this.notifiable(sub));
      const deliveries: NewDelivery[] = [];
      const told = new Set<string>();
      for (const event of events) {
        for (const sub of subscriptions.filter((s) => covers(s, event))) {
          // One notify per record a change touched, though the change wrote several events about it.
          const change = `${sub.id} ${this.changeOf(sub, event)}`;
          if (told.has(change)) continue;
          told.add(change);
          // Batched, or as it happens with earlier notifies held (next_batch_at set): they go out in order, together.
          if (sub.frequency || sub.next_batch_at !== null) {
            // A batch schedule that never fires again (next_batch_at null) would collect events nobody is sent.
            if (sub.next_batch_at !== null && (await this.recordOf(tx, sub, event))) await this.collect(tx, sub, [event]);
            continue;
          }
          const notifies = await this.notify(tx, sub, [event]);
          if (notifies === HELD) await this.hold(tx, sub, [event]);
          else deliveries.push(...notifies);
        }
      }
      await insertDeliveries(tx, deliveries, { horizonSeconds: this.opts.horizonSeconds });
      await tx.query('delete from notify_queue where registry_event_id = any($1::bigint[])', [events.map((e) => e.id)]);
      return deliveries.length + 1;
    });
    if (queued > 1) this.dispatcher.wake();
    return full;
  }

  /**
   * Sends the collected events of batched subscriptions whose batch is due, and the held notifies of subscriptions
   * notified as events happen whose retry is due; true when one was sent.
   */
  async dueBatches(): Promise<boolean> {
    const sent = await this.db.transaction(async (tx) => {
      const due = await tx.query<Subscription>(
        `select ${SUBSCRIPTION_COLUMNS} from subscriptions where status = 'subscribe' and next_batch_at <= now()
         order by next_batch_at limit 20 for update skip locked`,
      );
      const deliveries: NewDelivery[] = [];
      for (const sub of due) {
        if (!sub.frequency) {
          // Held beyond the callback horizon: as a notify that could not be delivered within it, given up.
          await tx.query(
            `delete from pending_notifications p using registry_events e where p.subscription_id = $1 and e.id = p.registry_event_id
               and e.recorded_at < now() - $2 * interval '1 second'`,
            [sub.id, this.opts.horizonSeconds],
          );
        }
        const events = await tx.query<RegistryEvent>(
          `select e.id, e.event_id, e.event_type, e.individual_id, e.group_id, e.recorded_at, e.source
           from pending_notifications p join registry_events e on e.id = p.registry_event_id where p.subscription_id = $1 order by e.id`,
          [sub.id],
        );
        const notifies = events.length > 0 ? await this.notify(tx, sub, events) : [];
        if (notifies !== HELD) {
          deliveries.push(...notifies);
          await tx.query('delete from pending_notifications where subscription_id = $1 and registry_event_id = any($2::bigint[])', [sub.id, events.map((e) => e.id)]);
        }
        let next: Date | undefined;
        if (!sub.frequency) {
          // Still held: tried again later; sent: back to a notify per event as it happens.
          next = notifies === HELD ? new Date(Date.now() + HELD_RETRY_SECONDS * 1000) : undefined;
        } else {
          // A cron expression that never fires again leaves no next batch: nothing more is collected for it. A batch
          // that could not be built stays collected and goes with the next one.
          try {
            next = nextBatchAt(sub.frequency, new Date(sub.next_batch_at!), new Date());
          } catch (err) {
            // Accepted by an older version, refused by this one: as one that never fires again, not a stalled round.
            this.reportUnusable(sub, 'frequency', err);
          }
        }
        await tx.query(`update subscriptions set next_batch_at = $2::timestamptz where id = $1`, [sub.id, next?.toISOString() ?? null]);
      }
      await insertDeliveries(tx, deliveries, { horizonSeconds: this.opts.horizonSeconds });
      return deliveries.length;
    });
    if (sent > 0) this.dispatcher.wake();
    return sent > 0;
  }

  /** The record an event is about, as the subscription asked for it, if it passes the subscription's filter. */
  private async recordOf(tx: Tx, sub: Subscription, event: RegistryEvent): Promise<object | undefined> {
    const domain = this.domains.get(sub.domain);
    if (!domain) return undefined;
    const plan = domain.plan({ reg_record_type: sub.record_type }, tx);
    const id = plan.subject === 'group' ? event.group_id : event.individual_id;
    if (id === null) return undefined;
    const own = plan.subject === 'group' ? sql`g.id = ${id}` : sql`i.id = ${id}`;
    let filter;
    try {
      // Judged by the partner's field allow-list as it is now: a filter on a field it may no longer receive is refused.
      const catalog = partnerCatalog(this.partners.get(sub.partner_id), plan.catalog, plan.parts);
      filter = sub.filter ? compileQuery(sub.filter.filter_type, sub.filter.filter, catalog).where : undefined;
    } catch (err) {
      // Accepted by an older version, refused by this one (stricter values) or for the partner's narrowed fields: left
      // out, as one subscription's filter must not stop the cursor, and with it every other subscriber's notifies.
      this.reportUnusable(sub, 'filter', err);
      return undefined;
    }
    const [record] = await plan.fetch({ where: filter ? and(own, filter)! : own, sortKeys: [], limit: 1, offset: 0 });
    return record;
  }

  /** Logs, once per subscription and process, a stored filter or frequency this version refuses. */
  private reportUnusable(sub: Subscription, what: 'filter' | 'frequency', err: unknown): void {
    if (this.reported.has(`${what} ${sub.code}`)) return;
    this.reported.add(`${what} ${sub.code}`);
    const consequence = what === 'filter' ? 'its notifies are not sent' : 'no further batches are scheduled';
    // A filter's refusal quotes the value refused, which may be a birth date or an identifier: only its code is logged.
    const reason = what === 'filter' ? (err instanceof QueryRejection ? err.reasonCode : 'refused') : (err as Error).message.slice(0, 300);
    this.logger.warn({ subscription: sub.code, partner: sub.partner_id, reason }, `subscription ${what} no longer accepted: ${consequence}`);
  }

  /** Collects events for the subscription's next batch (or the next try of its held notifies). */
  private async collect(tx: Tx, sub: Subscription, events: RegistryEvent[]): Promise<void> {
    await tx.query(
      'insert into pending_notifications (subscription_id, registry_event_id) select $1, unnest($2::bigint[]) on conflict do nothing',
      [sub.id, events.map((e) => e.id)],
    );
  }

  /**
   * Keeps the events of a notify that could not be built for the subscription's partner, to be built again in
   * HELD_RETRY_SECONDS (dueBatches), and with them the later events, in order. Left out instead, the partner would
   * miss them; thrown, the round would roll back, and no subscriber would be notified of anything again.
   */
  private async hold(tx: Tx, sub: Subscription, events: RegistryEvent[]): Promise<void> {
    await this.collect(tx, sub, events);
    sub.next_batch_at = new Date(Date.now() + HELD_RETRY_SECONDS * 1000).toISOString();
    await tx.query('update subscriptions set next_batch_at = $2::timestamptz where id = $1', [sub.id, sub.next_batch_at]);
  }

  /**
   * Which change to which of the subscription's records an event belongs to. One change writes its events together
   * (one statement, so one recorded_at and one source): a birth writes live_birth and member_added about the child, a
   * death death and member_removed about the deceased and up to three about the household. A subscription covering
   * several of those types hears once of each record the change touched.
   */
  private changeOf(sub: Subscription, event: RegistryEvent): string {
    const plan = this.domains.get(sub.domain)?.plan({ reg_record_type: sub.record_type });
    const subject = plan?.subject === 'group' ? `g${event.group_id}` : `i${event.individual_id}`;
    return `${subject} ${changeKey(event)}`;
  }

  /** The subscription's partner, if it is still registered and still holds the domain's subscribe scope. */
  private notifiable(sub: Subscription): Partner | undefined {
    const partner = this.partners.get(sub.partner_id);
    return partner && scopesAllow(partner.scopes, sub.domain, 'subscribe') ? partner : undefined;
  }

  /**
   * The notifies of these events for one subscription, projected for its partner and audited: one message, or several
   * when the events are more than one message may carry (a batch, notifies held); none if nothing matched, HELD if they
   * cannot be built for the partner (reported once per subscription).
   */
  private async notify(tx: Tx, sub: Subscription, events: RegistryEvent[]): Promise<NewDelivery[] | typeof HELD> {
    const partner = this.notifiable(sub);
    const domain = this.domains.get(sub.domain);
    if (!partner || !domain) return [];
    const plan = domain.plan({ reg_record_type: sub.record_type });
    const project = projectionOf(partner);
    const items: { item: object; recordIds: string[] }[] = [];
    const changes = new Set<string>();
    for (const event of events) {
      const change = this.changeOf(sub, event);
      if (changes.has(change)) continue;
      changes.add(change);
      const record = await this.recordOf(tx, sub, event);
      if (!record) continue;
      items.push({
        recordIds: registryIdsOf([record]),
        item: {
          reference_id: event.event_id,
          timestamp: new Date(event.recorded_at).toISOString(),
          data: { version: '1.0.0', reg_type: plan.regType, reg_event_type: notifiedEventType(event.event_type), reg_record_type: plan.recordType, reg_records: project ? project(record) : record },
        },
      });
    }
    const messages: { delivery: NewDelivery; disclosure: Disclosure }[] = [];
    // A receiver refuses a message of more items than it takes (rjct.total_count.limit_exceeded, as our MAX_BATCH_ITEMS)
    // or bytes than its body limit at every retry: a batch sent as one message never arrived.
    const pages = messagePages(items, { maxItems: this.opts.maxItems, maxBytes: this.opts.maxBytes, encrypted: partner.encryptResponses }, (p) => p.item);
    for (const page of pages) {
      const header = this.envelopes.callbackHeader({
        action: 'notify',
        status: 'succ',
        receiverId: partner.id,
        totalCount: page.length,
        completedCount: page.length,
        meta: { subscription_code: sub.code },
      });
      const message = { transaction_id: `notify-${randomUUID()}`, notify_event: page.map((p) => p.item) };
      let stored;
      try {
        stored = await this.envelopes.storedCallback(partner, header, message);
      } catch (err) {
        if (!this.reported.has(`notify ${sub.code}`)) {
          this.reported.add(`notify ${sub.code}`);
          this.logger.warn({ subscription: sub.code, partner: partner.id, reason: (err as Error).message.slice(0, 300) }, 'notify cannot be built for the partner: held and tried again');
        }
        return HELD;
      }
      messages.push({
        delivery: { transactionId: null, partnerId: partner.id, action: 'notify', messageId: header.message_id, page: 1, targetUrl: sub.notify_url, subscriptionId: sub.id, ...stored },
        disclosure: {
          partnerId: partner.id,
          domain: sub.domain,
          action: 'notify',
          purpose: `subscription:${sub.code}`,
          messageId: header.message_id,
          transactionId: message.transaction_id,
          recordIds: page.flatMap((p) => p.recordIds),
          recordCount: page.length,
          fields: partner.fields,
        },
      });
    }
    this.reported.delete(`notify ${sub.code}`);
    // Audited once every message is built: a message that could not be built leaves the events held, none disclosed.
    if (messages.length > 0) await this.audit.disclosedWithin(tx, messages.map((m) => m.disclosure));
    return messages.map((m) => m.delivery);
  }
}
