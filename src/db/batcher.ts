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
      let taken = 1;
      for (let size = this.sizeOf(this.queue[0].input); taken < this.queue.length; taken++) {
        size += this.sizeOf(this.queue[taken].input);
        if (size > this.maxBatch) break;
      }
      const batch = this.queue.splice(0, taken);
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
