import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { PollingLoop } from './polling-loop.js';

/** A loop whose rounds are counted; `more` says whether a round reports more work waiting. */
function countingLoop(minGapMs: number, more: () => boolean = () => false) {
  const rounds: number[] = [];
  const started = performance.now();
  const loop = new PollingLoop(
    async () => {
      rounds.push(performance.now() - started);
      return more();
    },
    60_000,
    (err) => {
      throw err;
    },
    minGapMs,
  );
  return { loop, rounds };
}

/** The rounds of a loop with `minGapMs` woken every 5 ms for `forMs`, then stopped. */
async function roundsWhileWoken(minGapMs: number, forMs: number): Promise<number[]> {
  const { loop, rounds } = countingLoop(minGapMs);
  loop.start();
  const until = performance.now() + forMs;
  while (performance.now() < until) {
    loop.wake();
    await sleep(5);
  }
  await loop.stop();
  return rounds;
}

describe('PollingLoop', () => {
  it('runs a round for every wake when it has no gap', async () => {
    const rounds = await roundsWhileWoken(0, 300);
    // About one round per wake (60 in 300 ms); timers on a busy machine make it fewer.
    expect(rounds.length).toBeGreaterThan(20);
  });

  it('takes wakes that come within the gap in one round after it', async () => {
    const rounds = await roundsWhileWoken(100, 450);
    // The first round at once, then at most one per 100 ms: 5 in 450 ms (plus the one a wake may start as it stops).
    expect(rounds.length).toBeGreaterThanOrEqual(3);
    expect(rounds.length).toBeLessThanOrEqual(6);
    for (let k = 1; k < rounds.length; k++) expect(rounds[k] - rounds[k - 1]).toBeGreaterThanOrEqual(95);
  });

  it('runs the next round at once while a round reports more work, gap or not', async () => {
    let left = 10;
    const { loop, rounds } = countingLoop(1_000, () => --left > 0);
    loop.start();
    await sleep(200);
    await loop.stop();
    // Ten rounds back to back (the last finds no more), then it waits for a wake or the poll.
    expect(rounds.length).toBe(10);
    expect(rounds[9] - rounds[0]).toBeLessThan(150);
  });

  it('stops promptly while it waits out a gap', async () => {
    const { loop, rounds } = countingLoop(10_000);
    loop.start();
    await sleep(20);
    loop.wake();
    await sleep(20);
    const stopping = performance.now();
    await loop.stop();
    expect(performance.now() - stopping).toBeLessThan(500);
    expect(rounds.length).toBe(1);
  });
});
