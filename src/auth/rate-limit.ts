/** A partner's request budget: a steady rate and a burst on top of it. */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

/**
 * Token buckets per partner, in this process (N processes behind a load balancer allow N times the rate; a shared
 * limit needs a shared store, which the deployment's gateway or ingress usually provides).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** Takes one request from the partner's bucket; when empty, how many seconds until one is back. */
  take(partnerId: string, limit: RateLimit, now: number = Date.now()): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const bucket = this.buckets.get(partnerId) ?? { tokens: limit.burst, at: now };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond);
    bucket.at = now;
    this.buckets.set(partnerId, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond)) };
  }
}
