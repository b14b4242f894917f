import { createHash, randomBytes } from 'node:crypto';
import type { Partner } from '../../auth/partners.js';
import { purposeOf, purposeRefusal } from '../../audit/disclosures.js';
import type { Transaction } from '../../db/client.js';
import { isObject, present } from '../envelope/normalize.js';
import { nowTimestamp } from '../envelope/builder.js';
import { compileQuery, QueryRejection } from '../query/index.js';
import { partnerCatalog } from '../search/field-guard.js';
import { isTimestamp, toTimestamp, withinTimestampRange } from '../query/values.js';
import type { SearchDomain } from '../search/items.js';
import { canonicalJson } from '../signing/canonical.js';
import { CronError } from './cron.js';
import { eventTypesOf, parseFrequency } from './event-types.js';


export interface ItemResult {
  reference_id: string;
  timestamp: string;
  status: 'succ' | 'rjct';
  status_reason_code?: string;
  status_reason_message?: string;
  subscriptions?: Record<string, unknown>[];
}

class Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The batch schedule (a keyword or a Quartz cron expression) with its first batch; null frequency for as-it-happens. */
function frequencyOf(raw: unknown): { frequency: string | null; firstBatch?: string; start?: string; end?: string } {
  if (!present(raw)) return { frequency: null };
  const spec = isObject(raw) ? raw : { frequency: raw };
  const text = typeof spec.frequency === 'string' ? spec.frequency.trim() : spec.frequency;
  const time = (v: unknown, name: string) => {
    if (!present(v)) return undefined;
    const at = typeof v === 'string' ? toTimestamp(v) : undefined;
    // Year 0, or 2026-02-30, had been taken by Date.parse and then refused by PostgreSQL at every retry of the request.
    if (!at) throw new Refusal('rjct.notify_details.invalid', `frequency.${name} must be an RFC 3339 date-time of years 1 to 9999`);
    return at;
  };
  const start = time(spec.start_time, 'start_time');
  const end = time(spec.end_time, 'end_time');
  if (start && end && end <= start) throw new Refusal('rjct.notify_details.invalid', 'frequency.end_time must be after start_time');
  if (end && Date.parse(end) <= Date.now()) throw new Refusal('rjct.notify_details.invalid', 'frequency.end_time has passed: the subscription would notify nothing');
  if (text === undefined || text === '' || (typeof text === 'string' && ['realtime', 'immediate'].includes(text.toLowerCase()))) return { frequency: null, start, end };
  if (typeof text !== 'string' || text.length > 200) throw new Refusal('rjct.notify_details.invalid', 'frequency must be a Quartz cron expression or hourly, daily, weekly, monthly');
  try {
    const schedule = parseFrequency(text);
    const first = schedule.next(new Date(Math.max(Date.now(), start ? Date.parse(start) : 0)));
    if (!first || !withinTimestampRange(first.getTime()) || (end && first.toISOString() >= end)) throw new CronError('it never fires within the subscription\'s time window');
    return { frequency: schedule.frequency, firstBatch: first.toISOString(), start, end };
  } catch (e) {
    if (!(e instanceof CronError)) throw e;
    throw new Refusal('rjct.notify_details.invalid', `frequency ${JSON.stringify(text).slice(0, 80)}: ${e.message} (a Quartz cron expression such as "0 0 0 5,15 * ? *", or hourly, daily, weekly, monthly)`);
  }
}

type Tx = Pick<Transaction, 'query'>;

/**
 * Subscribe and unsubscribe, executed by the async worker (DIGEST 3.4, 3.6): each subscribe item becomes a
 * subscription with a code of ours, or a refusal with its reason code; unsubscribe ends the partner's own
 * subscriptions. Both write in the caller's transaction, which records the answer too: executed again (the commit
 * failed, the worker died), a request finds nothing of its first execution, and is answered as it is applied.
 */
export class SubscriptionService {
  constructor(private readonly domains: ReadonlyMap<string, SearchDomain>) {}

  async subscribe(tx: Tx, domain: string, partner: Partner, items: Record<string, unknown>[], notifyUrl: string): Promise<ItemResult[]> {
    const since = await this.holdFanOut(tx);
    const results: ItemResult[] = [];
    const seen = new Set<string>();
    for (const item of items) {
      const reference_id = typeof item.reference_id === 'string' ? item.reference_id : '';
      try {
        // DIGEST 2.4: the subscriber tells the answers apart by reference_id; a repeated one would get two codes.
        if (seen.has(reference_id)) throw new Refusal('rjct.reference_id.duplicate', `reference_id ${reference_id.slice(0, 100)} repeats an earlier item of this batch`);
        seen.add(reference_id);
        results.push({ reference_id, timestamp: nowTimestamp(), status: 'succ', subscriptions: [await this.subscribeOne(tx, domain, partner, reference_id, item, notifyUrl, since)] });
      } catch (e) {
        if (!(e instanceof Refusal)) throw e;
        results.push({ reference_id, timestamp: nowTimestamp(), status: 'rjct', status_reason_code: e.code, status_reason_message: e.message.slice(0, 999) });
      }
    }
    return results;
  }

  /**
   * Keeps the notify fan-out from running a round until this transaction ends (a round takes the `notify` cursor row
   * FOR UPDATE SKIP LOCKED, and skips its turn while a subscribe holds it), and returns when the new subscriptions'
   * window starts: now, with no round under way. A window starting at the transaction's start, as created_at's
   * default does, let a round take the events recorded before the commit without seeing the subscription, and they
   * were never notified to it.
   */
  private async holdFanOut(tx: Tx): Promise<string> {
    await tx.query(`select 1 from event_cursors where name = 'notify' for share`);
    const [{ since }] = await tx.query<{ since: string }>('select clock_timestamp()::text as since');
    return since;
  }

  private async subscribeOne(tx: Tx, domain: string, partner: Partner, referenceId: string, item: Record<string, unknown>, notifyUrl: string, since: string): Promise<Record<string, unknown>> {
    if (present(item.timestamp) && !isTimestamp(item.timestamp)) throw new Refusal('rjct.timestamp.invalid', 'timestamp must be an RFC 3339 date-time');
    const criteria = item.subscribe_criteria;
    if (!isObject(criteria)) throw new Refusal('rjct.notify_details.invalid', 'subscribe_criteria must be an object');
    // Its notifies disclose records as its searches do: a partner with allowed purposes states one of them here too.
    const purposeRefused = partner.purposes && purposeRefusal(partner.purposes, purposeOf(item, 'subscribe_criteria'));
    if (purposeRefused) throw new Refusal('rjct.notify_details.invalid', purposeRefused);
    const eventTypes = eventTypesOf(criteria.reg_event_type, domain);
    if (!eventTypes) throw new Refusal('rjct.notify_types.invalid', `reg_event_type ${JSON.stringify(criteria.reg_event_type ?? null).slice(0, 100)} is not an event the ${domain} registry notifies`);
    const search = this.domains.get(domain);
    if (!search) throw new Refusal('rjct.notify_types.invalid', `the ${domain} registry here holds no records to notify about`);
    let recordType: string;
    try {
      const plan = search.plan({ reg_record_type: criteria.notify_record_type });
      recordType = plan.recordType;
      if (present(criteria.filter)) compileQuery(String(criteria.filter_type ?? 'expression'), criteria.filter, partnerCatalog(partner, plan.catalog, plan.parts));
    } catch (e) {
      if (e instanceof QueryRejection) throw new Refusal('rjct.notify_details.invalid', e.message);
      throw e;
    }
    const { frequency, firstBatch, start, end } = frequencyOf(criteria.frequency);
    const filter = present(criteria.filter) ? { filter_type: criteria.filter_type ?? 'expression', filter: criteria.filter } : null;
    const fingerprint = createHash('sha256').update(canonicalJson({ eventTypes: [...eventTypes].sort(), recordType, filter })).digest('hex');
    const code = `SUB-${randomBytes(10).toString('hex').toUpperCase()}`;
    const timestamp = nowTimestamp();
    const info = {
      version: '1.0.0',
      code,
      status: 'subscribe',
      timestamp,
      reg_type: criteria.reg_type,
      reg_event_type: criteria.reg_event_type,
      frequency: criteria.frequency,
      filter_type: filter?.filter_type,
      filter: filter?.filter,
      notify_record_type: criteria.notify_record_type ?? recordType,
      locale: item.locale,
    };
    const insert = () =>
      tx.query<{ id: number }>(
        `insert into subscriptions (code, domain, partner_id, reference_id, event_types, reg_event_type, record_type, filter, frequency, start_time, end_time,
           notify_url, fingerprint, status, criteria, next_batch_at, created_at)
         values ($1, $2, $3, $4, $5::text[], $6, $7, $8::jsonb, $9, $10::timestamptz, $11::timestamptz, $12, $13, 'subscribe', $14::jsonb, $15::timestamptz, $16::timestamptz)
         on conflict (partner_id, domain, fingerprint) where status = 'subscribe' do nothing returning id`,
        [code, domain, partner.id, referenceId, [...eventTypes], String(criteria.reg_event_type), recordType, filter ? JSON.stringify(filter) : null, frequency, start ?? null, end ?? null, notifyUrl, fingerprint, JSON.stringify(info), firstBatch ?? null, since],
      );
    let inserted = await insert();
    if (inserted.length === 0) {
      // The subscription in the way may have run its course (its end_time passed, its last batch sent): it then no
      // longer stands in the way of a new one.
      const ended = await tx.query(
        `update subscriptions s set status = 'unsubscribe', unsubscribed_at = now()
         where partner_id = $1 and domain = $2 and fingerprint = $3 and status = 'subscribe' and end_time <= now()
           and not exists (select 1 from pending_notifications p where p.subscription_id = s.id) returning id`,
        [partner.id, domain, fingerprint],
      );
      if (ended.length > 0) inserted = await insert();
    }
    if (inserted.length === 0) throw new Refusal('rjct.event.already_subscribed', 'an active subscription of this partner already covers these events, records and filter');
    return Object.fromEntries(Object.entries(info).filter(([, v]) => v !== undefined));
  }

  /**
   * Ends the partner's own subscriptions by code; the message gets one status (DIGEST 3.6). What was queued for them
   * and not yet delivered is withdrawn with them: notifies waiting or being retried, events collected for a batch. The
   * row locks wait for a fan-out round that has read these subscriptions, so nothing it queues comes after.
   */
  async unsubscribe(tx: Tx, domain: string, partnerId: string, named: string[]) {
    // A code named twice is one subscription, answered once.
    const codes = [...new Set(named)];
    const rows = await tx.query<{ id: number; code: string; status: string }>(
      `select id, code, status from subscriptions where domain = $1 and partner_id = $2 and code = any($3::text[]) order by id for update`,
      [domain, partnerId, codes],
    );
    const ended = rows.filter((r) => r.status === 'subscribe');
    if (ended.length > 0) {
      const ids = ended.map((r) => r.id);
      await tx.query(`update subscriptions set status = 'unsubscribe', unsubscribed_at = now() where id = any($1::bigint[])`, [ids]);
      // Its lease cleared too: a notify being sent as this commits is not retried.
      await tx.query(
        `update callback_deliveries set state = 'gone', last_error = 'the subscription ended', lease_owner = null, lease_until = null
         where subscription_id = any($1::bigint[]) and state = 'pending'`,
        [ids],
      );
      await tx.query('delete from pending_notifications where subscription_id = any($1::bigint[])', [ids]);
    }
    const known = new Map(rows.map((r) => [r.code, r.status]));
    const ending = ended.map((r) => r.code);
    const unknown = codes.filter((c) => !known.has(c));
    const already = codes.filter((c) => known.get(c) === 'unsubscribe');
    const failure = unknown.length > 0
      ? { code: 'rjct.subscription_code.invalid', message: `no subscription of this partner has the code ${unknown.slice(0, 5).join(', ').slice(0, 300)}` }
      : already.length > 0
        ? { code: 'rjct.event.already_unsubscribed', message: `already unsubscribed: ${already.slice(0, 5).join(', ').slice(0, 300)}` }
        : undefined;
    return {
      status: ending.length > 0 || !failure ? ('succ' as const) : ('rjct' as const),
      reason: failure,
      subscription_status: [...ending, ...already].map((code) => ({ code, status: 'unsubscribe' })),
    };
  }
}
