import type { Database } from '../../db/client.js';
import { HeaderRejection } from '../../http/errors.js';
import { Batcher } from '../../db/batcher.js';

/**
 * Replay protection of sync requests (DIGEST 7.6, issue 4): a `message_id` is answered once per sender (its
 * `message_ts` must lie within `windowSeconds`: checkRequestHeader). Async requests get the same guarantee from their
 * transaction rows.
 */
export class ReplayGuard {
  private readonly batcher = new Batcher<{ senderId: string; messageId: string }, boolean>((batch) => this.recordMany(batch), 200, 4);

  constructor(
    private readonly db: Database,
    readonly windowSeconds: number,
  ) {}

  /** Records the message; refuses one seen before. */
  async checkFirstSeen(senderId: string, messageId: string): Promise<void> {
    if (!(await this.batcher.add({ senderId, messageId }))) throw duplicate(messageId);
  }

  /**
   * Records the message inside the transaction that applies it (a write): if that rolls back, the id is not used up
   * and the sender may send the message again. A concurrent copy waits on the id's unique index, then is refused.
   */
  async checkFirstSeenWithin(tx: Pick<Database, 'query'>, senderId: string, messageId: string): Promise<void> {
    const added = await tx.query('insert into seen_sync_messages (sender_id, message_id) values ($1, $2) on conflict do nothing returning 1', [senderId, messageId]);
    if (added.length === 0) throw duplicate(messageId);
  }

  /**
   * Answers a message once per sender and message id. When the answer only reads, the id is recorded while it runs
   * (a round trip less for every answer); otherwise first, and given back when the answer fails other than by a
   * rejection (a forward to an upstream that was down: the sender's retry of the message is then answered, not refused
   * as its duplicate). A replay is refused (HeaderRejection) and its answer dropped unseen, so nothing of it is
   * disclosed or audited.
   */
  async answerOnce<T>(senderId: string, messageId: string, answer: () => Promise<T>, readOnly = true): Promise<T> {
    if (!readOnly) {
      await this.checkFirstSeen(senderId, messageId);
      try {
        return await answer();
      } catch (e) {
        // Should that fail too, the id stays used: the caller still gets the answer's own error.
        if (!(e instanceof HeaderRejection)) await this.db.query('delete from seen_sync_messages where sender_id = $1 and message_id = $2', [senderId, messageId]).catch(() => undefined);
        throw e;
      }
    }
    // Both settle before either outcome is used: an answer failing while the record is still being written (a 504, a
    // database error) had been an unhandled rejection for that moment, which ends a Node process.
    const [recorded, answered] = await Promise.allSettled([this.checkFirstSeen(senderId, messageId), answer()]);
    if (recorded.status === 'rejected') throw recorded.reason;
    if (answered.status === 'rejected') throw answered.reason;
    return answered.value;
  }

  private async recordMany(batch: { senderId: string; messageId: string }[]): Promise<boolean[]> {
    const inserted = await this.db.query<{ sender_id: string; message_id: string }>(
      `insert into seen_sync_messages (sender_id, message_id)
       select * from unnest($1::text[], $2::text[]) on conflict do nothing returning sender_id, message_id`,
      [batch.map((m) => m.senderId), batch.map((m) => m.messageId)],
    );
    const fresh = new Set(inserted.map((r) => `${r.sender_id}\u0000${r.message_id}`));
    // The same message twice in one batch: only the first is fresh.
    return batch.map((m) => fresh.delete(`${m.senderId}\u0000${m.messageId}`));
  }

  /** Forgets ids older than twice the window: their messages now fail the timestamp check anyway. */
  async prune(): Promise<void> {
    await this.db.query(`delete from seen_sync_messages where seen_at < now() - $1 * interval '1 second'`, [this.windowSeconds * 2]);
  }
}

const duplicate = (messageId: string) => new HeaderRejection('rjct.message_id.duplicate', `message_id ${messageId.slice(0, 100)} was already received`);
