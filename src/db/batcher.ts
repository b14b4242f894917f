/**
 * How many of `items`, from `from` on, fit together within `max` by `sizeOf`: at least one, so that an item heavier
 * than `max` goes alone. The one grouping rule of the batcher and of the async executor's chunks.
 */
export function leadingFit<T>(items: readonly T[], max: number, sizeOf: (item: T) => number, from = 0): number {
  let taken = 1;
  for (let size = sizeOf(items[from]); from + taken < items.length; taken++) {
    size += sizeOf(items[from + taken]);
    if (size > max) break;
  }
  return taken;
}

/**
 * Groups calls that arrive together into one call of `run` with all their inputs (up to `maxBatch` of them, or of
 * their `sizeOf` when inputs differ in weight; an input heavier than that goes alone), with at most `maxInFlight`
 * batches running at once: under load, many requests share one statement and one commit; alone, a call runs at once.
 */
export class Batcher<In, Out> {
  private queue: { input: In; resolve: (o: Out) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly run: (batch: In[]) => Promise<Out[]>,
    private readonly maxBatch: number,
    private readonly maxInFlight: number,
    private readonly sizeOf: (input: In) => number = () => 1,
  ) {}

  add(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      // setImmediate: the calls of this event-loop turn join the batch.
      if (this.queue.length === 1) setImmediate(() => this.drain());
    });
  }

  private drain(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, leadingFit(this.queue, this.maxBatch, (q) => this.sizeOf(q.input)));
      this.inFlight++;
      this.run(batch.map((b) => b.input)).then(
        (outputs) => batch.forEach((b, i) => b.resolve(outputs[i])),
        (err) => batch.forEach((b) => b.reject(err)),
      ).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.drain();
      });
    }
  }
}
