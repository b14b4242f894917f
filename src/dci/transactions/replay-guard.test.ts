import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { HeaderRejection } from '../../http/errors.js';
import { ReplayGuard } from './replay-guard.js';

/** A database whose replay inserts take `delayMs` and find each id new once. */
function slowDatabase(delayMs: number): Database {
  const seen = new Set<string>();
  return {
    query: async (_text: string, [senders, ids]: [string[], string[]]) => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return senders.flatMap((s, k) => (seen.has(`${s} ${ids[k]}`) ? [] : (seen.add(`${s} ${ids[k]}`), [{ sender_id: s, message_id: ids[k] }])));
    },
  } as unknown as Database;
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  unhandled.length = 0;
});

describe('ReplayGuard.answerOnce', () => {
  it('passes on an answer that fails while the message id is still being recorded, leaving no rejection unhandled', async () => {
    process.on('unhandledRejection', onUnhandled);
    const guard = new ReplayGuard(slowDatabase(50), 900);
    const failure = new Error('the search failed at once');
    await expect(guard.answerOnce('p', 'm-1', () => Promise.reject(failure))).rejects.toBe(failure);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unhandled).toEqual([]);
  });

  it('refuses a replayed id even when its answer failed, and drops the answer of a replay unseen', async () => {
    const guard = new ReplayGuard(slowDatabase(5), 900);
    expect(await guard.answerOnce('p', 'm-2', async () => 'first')).toBe('first');
    await expect(guard.answerOnce('p', 'm-2', async () => 'second')).rejects.toBeInstanceOf(HeaderRejection);
    await expect(guard.answerOnce('p', 'm-3', () => Promise.reject(new Error('failed')))).rejects.toThrow('failed');
    await expect(guard.answerOnce('p', 'm-3', () => Promise.reject(new Error('failed again')))).rejects.toBeInstanceOf(HeaderRejection);
  });
});
