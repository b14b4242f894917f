import type { Database } from '../db/client.js';

type Tx = Pick<Database, 'query'>;

/** Where and when a registry event happened: the person and/or household it is about, its date, what changed (no personal data). */
export interface RegistryEventAt {
  individualId?: number;
  groupId?: number;
  on?: string;
  details?: object;
}

/** The registry events of one change, written together in one statement at its end (same transaction). */
export class EventBatch {
  private readonly events: (RegistryEventAt & { type: string })[] = [];

  constructor(readonly source: string) {}

  add(type: string, at: RegistryEventAt): void {
    this.events.push({ type, ...at });
  }

  async write(tx: Tx): Promise<void> {
    const insert = this.take(1);
    if (insert) await tx.query(insert.text, insert.params);
  }

  /**
   * The batch's insert with its parameters numbered from `$first`, for a caller that folds it into a statement of its
   * own (a data-modifying CTE); the batch is empty afterwards. Undefined when there is nothing to write.
   */
  take(first: number): { text: string; params: unknown[] } | undefined {
    if (this.events.length === 0) return undefined;
    const col = <T>(f: (e: RegistryEventAt & { type: string }) => T) => this.events.map(f);
    const $ = (k: number) => `$${first + k}`;
    const params = [col((e) => e.type), col((e) => e.individualId ?? null), col((e) => e.groupId ?? null), col((e) => e.on ?? null), this.source, col((e) => JSON.stringify(e.details ?? {}))];
    this.events.length = 0;
    return {
      text: `insert into registry_events (event_type, individual_id, group_id, occurred_on, source, details)
       select u.t, u.i, u.g, u.o::date, ${$(4)}, u.d::jsonb from unnest(${$(0)}::text[], ${$(1)}::bigint[], ${$(2)}::bigint[], ${$(3)}::text[], ${$(5)}::text[]) with ordinality as u(t, i, g, o, d, n) order by u.n`,
      params,
    };
  }
}
