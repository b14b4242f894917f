import { describe, expect, it } from 'vitest';
import { Batcher } from './batcher.js';

/** The batcher behind the audit log, the replay guard, the async intake, the SR lookups and the CRVS inbox. */
describe('Batcher', () => {
  const recording = (opts: { maxBatch: number; maxInFlight: number; sizeOf?: (n: number) => number; failWith?: number }) => {
    const batches: number[][] = [];
    let running = 0;
    let mostRunning = 0;
    const batcher = new Batcher<number, string>(
      async (batch) => {
        batches.push(batch);
        mostRunning = Math.max(mostRunning, ++running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        if (opts.failWith !== undefined && batch.includes(opts.failWith)) throw new Error(`batch with ${opts.failWith} failed`);
        return batch.map((n) => `out-${n}`);
      },
      opts.maxBatch,
      opts.maxInFlight,
      opts.sizeOf,
    );
    return { batcher, batches, mostRunning: () => mostRunning };
  };

  it('runs the calls of one event-loop turn together, up to maxBatch, and answers each its own output', async () => {
    const { batcher, batches } = recording({ maxBatch: 3, maxInFlight: 4 });
    const outputs = await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.add(n)));
    expect(outputs).toEqual(['out-1', 'out-2', 'out-3', 'out-4', 'out-5']);
    expect(batches).toEqual([[1, 2, 3], [4, 5]]);
  });

  it('counts inputs by their size when given one; an input heavier than maxBatch goes alone', async () => {
    const { batcher, batches } = recording({ maxBatch: 10, maxInFlight: 8, sizeOf: (n) => n });
    await Promise.all([4, 5, 2, 12, 1, 9].map((n) => batcher.add(n)));
    expect(batches).toEqual([[4, 5], [2], [12], [1, 9]]);
  });

  it('runs at most maxInFlight batches at once; calls arriving meanwhile wait and go together', async () => {
    const { batcher, batches, mostRunning } = recording({ maxBatch: 100, maxInFlight: 1 });
    const first = batcher.add(1);
    await new Promise((r) => setImmediate(r));
    const later = [2, 3, 4].map((n) => batcher.add(n));
    await Promise.all([first, ...later]);
    expect(mostRunning()).toBe(1);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('rejects the calls of a failed batch only', async () => {
    const { batcher } = recording({ maxBatch: 2, maxInFlight: 4, failWith: 3 });
    const settled = await Promise.allSettled([1, 2, 3, 4].map((n) => batcher.add(n)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
  });
});
