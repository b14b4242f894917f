/**
 * Retry schedule of callbacks (Stripe and the Standard Webhooks spec): the first retry within about 2 s, then doubling
 * up to `capMs` between attempts, with "full jitter" on the upper half so that receivers coming back from an outage
 * are not hit by every sender at once.
 */
export function retryDelayMs(attempt: number, opts: { baseMs: number; capMs: number }, random: () => number = Math.random): number {
  const exponential = Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}
