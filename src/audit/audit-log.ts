import { createHash } from 'node:crypto';
import type { Database } from '../db/client.js';
import { Batcher } from '../db/batcher.js';
import { canonicalJson } from '../dci/signing/canonical.js';
import { newestFirstPage } from '../db/pages.js';

/** One disclosure of personal data to a partner. */
export interface Disclosure {
  partnerId: string;
  domain: string;
  action: string;
  purpose?: string;
  transactionId?: string;
  messageId?: string;
  referenceId?: string;
  recordIds: string[];
  recordCount: number;
  fields?: readonly string[];
}

export interface AuditRow {
  id: number;
  at: string;
  partner_id: string;
  event: string;
  domain: string;
  action: string;
  purpose: string | null;
  transaction_id: string | null;
  message_id: string | null;
  reference_id: string | null;
  record_count: number;
  record_ids: string[];
  fields: string[] | null;
  prev_hash: string;
  hash: string;
}

/** A change made by an operator or a partner: who made it, and which records (or partners, events) it changed. */
export interface Change {
  actorId: string;
  domain: string;
  action: string;
  recordIds: string[];
}

const changeEntry = (c: Change): Disclosure => ({ partnerId: c.actorId, domain: c.domain, action: c.action, recordIds: c.recordIds, recordCount: c.recordIds.length });

export const GENESIS_HASH = '0'.repeat(64);

/** The hashed content of an entry: the canonical JSON of its fields. */
function entryContent(row: Omit<AuditRow, 'id' | 'prev_hash' | 'hash'>): string {
  return canonicalJson({
    at: new Date(row.at).toISOString(),
    partner_id: row.partner_id,
    event: row.event,
    domain: row.domain,
    action: row.action,
    purpose: row.purpose,
    transaction_id: row.transaction_id,
    message_id: row.message_id,
    reference_id: row.reference_id,
    record_count: row.record_count,
    record_ids: row.record_ids,
    fields: row.fields,
  });
}

/** The hash of an entry: SHA-256 over the previous hash and the entry's content. */
export function entryHash(prevHash: string, row: Omit<AuditRow, 'id' | 'prev_hash' | 'hash'>): string {
  return createHash('sha256').update(prevHash).update(entryContent(row)).digest('hex');
}

/** The append-only, hash-chained audit log. Disclosures arriving together are chained and written in one commit. */
export class AuditLog {
  private readonly batcher = new Batcher<{ event: string; d: Disclosure }, void>((batch) => this.appendMany(batch), 500, 1);

  constructor(private readonly db: Database) {}

  /** Records a disclosure; resolves once it is committed (callers answer only after that). */
  disclosed(d: Disclosure): Promise<void> {
    return this.batcher.add({ event: 'disclose', d });
  }

  /**
   * Records disclosures inside the caller's transaction: they commit, or roll back, with what discloses (the notify
   * fan-out writes its callbacks and their audit entries together).
   */
  async disclosedWithin(tx: Pick<Database, 'query'>, disclosures: Disclosure[]): Promise<void> {
    if (disclosures.length > 0) await this.appendMany(disclosures.map((d) => ({ event: 'disclose', d })), tx);
  }

  /**
   * Records a change an operator or partner made elsewhere (an upstream's subscription): `partner_id` is who made it,
   * `record_ids` what it changed. A change to this registry's own tables is recorded with `changedWithin`.
   */
  changed(c: Change): Promise<void> {
    return this.batcher.add({ event: 'change', d: changeEntry(c) });
  }

  /**
   * Records a change inside the transaction that makes it: both commit, or neither (an entry written after the commit
   * is lost to a crash between the two). Called last in the transaction, as the chain's head stays locked until then.
   */
  async changedWithin(tx: Pick<Database, 'query'>, c: Change): Promise<void> {
    await this.appendMany([{ event: 'change', d: changeEntry(c) }], tx);
  }

  /**
   * Appends a batch in one statement (one round trip, one commit): the entries' contents are canonicalised here, and
   * PostgreSQL chains them (hash = SHA-256 of the previous hash and the content) from the head row it locks.
   */
  private async appendMany(batch: { event: string; d: Disclosure }[], db: Pick<Database, 'query'> = this.db): Promise<void[]> {
    const at = new Date().toISOString();
    const rows = batch.map(({ event, d }) => ({
      at,
      partner_id: d.partnerId,
      event,
      domain: d.domain,
      action: d.action,
      purpose: d.purpose ?? null,
      transaction_id: d.transactionId ?? null,
      message_id: d.messageId ?? null,
      reference_id: d.referenceId ?? null,
      record_count: d.recordCount,
      record_ids: d.recordIds,
      fields: d.fields ? [...d.fields] : null,
    }));
    const col = <K extends keyof (typeof rows)[number]>(k: K) => rows.map((r) => r[k]);
    await db.query(
      `with recursive
         head as (select hash from audit_head where id = 1 for update),
         items as (
           select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
             $10::int[], $11::text[], $12::text[], $13::text[]) with ordinality
             as u(at, partner_id, event, domain, action, purpose, transaction_id, message_id, reference_id, record_count, record_ids, fields, content, ord)
         ),
         chain(ord, prev_hash, hash) as (
           select 0::bigint, null::text, (select hash from head)
           union all
           select i.ord, c.hash, encode(sha256(convert_to(c.hash || i.content, 'UTF8')), 'hex') from chain c join items i on i.ord = c.ord + 1
         ),
         appended as (
           insert into audit_log (at, partner_id, event, domain, action, purpose, transaction_id, message_id, reference_id, record_count,
             record_ids, fields, prev_hash, hash)
           select i.at::timestamptz, i.partner_id, i.event, i.domain, i.action, i.purpose, i.transaction_id, i.message_id, i.reference_id,
             i.record_count, array(select jsonb_array_elements_text(i.record_ids::jsonb)),
             case when i.fields is null then null else array(select jsonb_array_elements_text(i.fields::jsonb)) end, c.prev_hash, c.hash
           from items i join chain c on c.ord = i.ord order by i.ord
           returning id
         )
       update audit_head set hash = (select hash from chain order by ord desc limit 1) where id = 1 and (select count(*) from appended) >= 0`,
      [
        col('at'),
        col('partner_id'),
        col('event'),
        col('domain'),
        col('action'),
        col('purpose'),
        col('transaction_id'),
        col('message_id'),
        col('reference_id'),
        col('record_count'),
        rows.map((r) => JSON.stringify(r.record_ids)),
        rows.map((r) => (r.fields ? JSON.stringify(r.fields) : null)),
        rows.map((r) => entryContent(r)),
      ],
    );
    return batch.map(() => undefined);
  }

  list(filter: { partnerId?: string; beforeId?: number; limit: number }): Promise<AuditRow[]> {
    const { text, params } = newestFirstPage('audit_log', '*', { partner_id: filter.partnerId }, filter);
    return this.db.query<AuditRow>(text, params);
  }
}

/**
 * Walks the whole chain in order and returns the first entry whose hash or link does not hold (a changed, deleted or
 * inserted row), or undefined when the chain is intact. The chain must also reach the entry `audit_head` names as the
 * last one appended: entries deleted from its end leave no broken link behind, only a head the chain no longer reaches.
 * (The head is read first: entries appended while the walk runs come after it.)
 */
export async function verifyAuditChain(db: Database): Promise<{ checked: number; broken?: { id: number; reason: string } }> {
  const [head] = await db.query<{ hash: string }>('select hash from audit_head where id = 1');
  let reachedHead = !head || head.hash === GENESIS_HASH;
  let prev = GENESIS_HASH;
  let lastId = 0;
  let checked = 0;
  for (;;) {
    const rows = await db.query<AuditRow>('select * from audit_log where id > $1 order by id limit 5000', [lastId]);
    if (rows.length === 0) {
      if (reachedHead) return { checked };
      return { checked, broken: { id: lastId, reason: 'the chain ends before the last entry appended (audit_head): entries were removed from its end' } };
    }
    for (const row of rows) {
      if (row.prev_hash !== prev) return { checked, broken: { id: Number(row.id), reason: 'prev_hash does not match the previous entry (a row was removed, added or changed before it)' } };
      if (entryHash(prev, row) !== row.hash) return { checked, broken: { id: Number(row.id), reason: 'its content does not match its hash (the row was changed)' } };
      prev = row.hash;
      lastId = Number(row.id);
      checked++;
      if (row.hash === head?.hash) reachedHead = true;
    }
  }
}
