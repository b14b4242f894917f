import { Wakeup } from './wakeup.js';

/**
 * A background worker's loop: runs `round` until stopped; after a round that found no more work (false) or failed,
 * sleeps until the next poll or until `wake()`. A failed round is reported and tried again at the next poll.
 */
export class PollingLoop {
  private readonly wakeup = new Wakeup();
  private running = false;
  private loop?: Promise<void>;

  constructor(
    private readonly round: () => Promise<boolean>,
    private readonly pollMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  wake(): void {
    this.wakeup.wake();
  }

  /** Resolves once the round in progress, if any, has finished. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeup.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let busy = false;
      try {
        busy = await this.round();
      } catch (err) {
        this.onError(err as Error);
      }
      if (this.running && !busy) await this.wakeup.wait(this.pollMs);
    }
  }
}
