import { setTimeout as sleep } from 'node:timers/promises';
import { Wakeup } from './wakeup.js';

/**
 * A background worker's loop: runs `round` until stopped; after a round that found no more work (false) or failed,
 * sleeps until the next poll or until `wake()`. A failed round is reported and tried again at the next poll.
 *
 * With `minGapMs`, a wake that comes sooner than that after the previous round began waits out the rest of the gap:
 * work woken for one change at a time (a CRVS reporting deaths one per message) is then taken in one round for many,
 * not in a round of its own each.
 */
export class PollingLoop {
  private readonly wakeup = new Wakeup();
  private running = false;
  private loop?: Promise<void>;
  private stopping = new AbortController();

  constructor(
    private readonly round: () => Promise<boolean>,
    private readonly pollMs: number,
    private readonly onError: (err: Error) => void,
    private readonly minGapMs = 0,
  ) {}

  start(): void {
    this.running = true;
    this.stopping = new AbortController();
    this.loop = this.run();
  }

  wake(): void {
    this.wakeup.wake();
  }

  /** Resolves once the round in progress, if any, has finished. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping.abort();
    this.wakeup.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const began = performance.now();
      let busy = false;
      try {
        busy = await this.round();
      } catch (err) {
        this.onError(err as Error);
      }
      if (!this.running || busy) continue;
      await this.wakeup.wait(this.pollMs);
      const rest = this.minGapMs - (performance.now() - began);
      if (this.running && rest > 0) await sleep(rest, undefined, { signal: this.stopping.signal }).catch(() => {});
    }
  }
}
