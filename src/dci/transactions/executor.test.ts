import { describe, expect, it } from 'vitest';
import { chunksByItems } from './executor.js';
import type { ClaimedTransaction } from './transaction-store.js';

const request = (id: number, message: Record<string, unknown>): ClaimedTransaction => ({
  id,
  attempts: 1,
  domain: 'social',
  action: 'search',
  sender_id: 'p',
  correlation_id: `c${id}`,
  transaction_id: `t${id}`,
  callback_url: 'http://127.0.0.1/cb',
  request: { header: {}, message },
  total_count: 1,
});
const search = (id: number, items: number) => request(id, { search_request: Array.from({ length: items }, (_, i) => ({ reference_id: String(i) })) });
const ids = (chunks: ClaimedTransaction[][]) => chunks.map((c) => c.map((t) => t.id));

/** How the executor groups a round's requests: what runs at once, and so how many results it holds at a time. */
describe('chunksByItems', () => {
  it('puts a round of one-item searches into one chunk up to the item limit', () => {
    const round = Array.from({ length: 300 }, (_, i) => search(i, 1));
    expect(chunksByItems(round, 128).map((c) => c.length)).toEqual([128, 128, 44]);
  });

  it('weighs batch requests by their items and keeps the order of the round', () => {
    expect(ids(chunksByItems([search(1, 60), search(2, 50), search(3, 30), search(4, 100), search(5, 1)], 128))).toEqual([[1, 2], [3], [4, 5]]);
  });

  it('runs a request larger than the limit alone', () => {
    expect(ids(chunksByItems([search(1, 1), search(2, 400), search(3, 1)], 128))).toEqual([[1], [2], [3]]);
  });

  it('counts subscribe items, and txn-status or unsubscribe requests as one each', () => {
    const round = [
      request(1, { subscribe_request: [{}, {}, {}] }),
      request(2, { txnstatus_request: { reference_id: 'r' } }),
      request(3, { subscription_codes: ['a', 'b'] }),
      search(4, 0),
    ];
    expect(ids(chunksByItems(round, 4))).toEqual([[1, 2], [3, 4]]);
  });
});
