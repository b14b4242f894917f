import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const ConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  /** PostgreSQL URL; when unset the embedded PGlite database under DATA_DIR is used. */
  DATABASE_URL: z.preprocess((v) => (v === '' ? undefined : v), z.string().url().optional()),
  /** PostgreSQL connections per process. Small pools serve best: on 2 cores, 8 gave 40% more searches/s than 32. */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(10),
  /** Server processes sharing the port (node:cluster), for the machine's cores; above 1 only with DATABASE_URL. */
  SERVER_PROCESSES: z.coerce.number().int().min(1).max(256).default(1),
  /** PostgreSQL cancels a statement running longer than this; the caller gets 504 err.request.timeout, not a hang. */
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
  /**
   * How long a sync search batch may keep running: items not yet started by then are not run, and the request is
   * answered 504 err.request.timeout (a batch of 100 whole-registry searches could otherwise hold eight connections
   * for minutes after its caller gave up).
   */
  SYNC_SEARCH_BUDGET_MS: z.coerce.number().int().min(1).default(30_000),
  DATA_DIR: z.string().default('./data'),
  /** Load the demo registry into an empty database on start (never in production). */
  DEMO_DATA: bool.optional(),
  DEMO_HOUSEHOLDS: z.coerce.number().int().min(0).default(2000),
  DEMO_SEED: z.coerce.number().int().default(42),
  /** This server's DCI id: `sender_id` of what it emits, `iss` of its tokens. */
  DCI_SENDER_ID: z.string().min(1).default('dci-gateway'),
  PUBLIC_URL: z.string().url().optional(),
  /** JSON file of the upstream registries whose domains this gateway forwards (README: Gateway mode). */
  UPSTREAMS_FILE: z.string().optional(),
  /** JSON file of the registered partners (README: Partners). */
  PARTNERS_FILE: z.string().optional(),
  /** This server's private signing key (PKCS#8 PEM or JWK file). Generated under DATA_DIR outside production. */
  SIGNING_KEY: z.string().optional(),
  /**
   * Retired signing keys (comma-separated PEM or JWK files): still published in the JWKS and still accepted on our
   * tokens until those expire, so a key is rotated without downtime.
   */
  SIGNING_KEY_PREVIOUS: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((p) => p.trim()).filter(Boolean)),
  /** This server's private encryption key (RSA, EC P-256 or X25519; PEM or JWK file). Generated under DATA_DIR outside production. */
  ENCRYPTION_KEY: z.string().optional(),
  /** An unknown kid makes us fetch a partner's JWKS again (key rotation), at most this often. */
  PARTNER_JWKS_REFETCH_MIN_SECONDS: z.coerce.number().min(0).default(30),
  /**
   * File holding the 32-byte key that seals restricted fields and keys their blind index (64 hex digits or base64).
   * Generated under DATA_DIR outside production. Losing it loses those fields; changing it needs a re-seal.
   */
  DATA_KEY: z.string().optional(),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86400).default(3600),
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  /** Largest batch (`search_request` items) one message may carry. */
  MAX_BATCH_ITEMS: z.coerce.number().int().min(1).default(100),
  MAX_PAGE_SIZE: z.coerce.number().int().min(1).default(1000),
  DEFAULT_PAGE_SIZE: z.coerce.number().int().min(1).default(10),
  /** Deepest row a page may reach (page_number * page_size); deeper pages are refused, not scanned. */
  MAX_RESULT_WINDOW: z.coerce.number().int().min(1).default(100_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Mounts GET /bench/ceiling/uin/:uin, the bare-lookup baseline `npm run bench` compares against (never in production). */
  BENCH_ROUTES: bool.optional(),
  /** How far a request's header.message_ts may be from the server's clock (replay window, DIGEST 7.6). */
  MESSAGE_TS_WINDOW_SECONDS: z.coerce.number().int().min(1).default(900),
  /** Sign the envelopes we answer with (on; `false` only to measure what signing costs, never in production). */
  DCI_SIGNING: bool.optional(),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  /** Run the background workers (async execution, callback delivery) in this process. */
  WORKERS: bool.optional(),
  /** How often idle workers look for work that other processes queued (their own work wakes them at once). */
  WORKER_POLL_MS: z.coerce.number().int().min(10).default(500),
  /** Longest a callback receiver or peer registry may take to send its answer's headers, and again its body, before the attempt fails. */
  CALLBACK_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** First retry delay (doubling after each failure, with jitter). */
  CALLBACK_RETRY_BASE_MS: z.coerce.number().int().min(10).default(2_000),
  CALLBACK_RETRY_CAP_SECONDS: z.coerce.number().int().min(1).default(3_600),
  /** How long a callback is retried before it is dead-lettered (3 days, as Stripe and Standard Webhooks). */
  CALLBACK_HORIZON_SECONDS: z.coerce.number().int().min(1).default(259_200),
  /** Callbacks in flight at once per process, and per partner unless the partner sets its own cap. */
  CALLBACK_CONCURRENCY: z.coerce.number().int().min(1).default(64),
  /**
   * One partner's callbacks go out at most this many at a time, so a partner can take at most cap / round trip per
   * second: with 8, a steady 2,000 requests/s to a local receiver fell 2,000-7,000 callbacks behind in a minute
   * whenever the round trip passed 4 ms, the cores 25% idle; with 16 it kept up. A hanging receiver still holds at
   * most a quarter of the process's slots.
   */
  CALLBACK_PARTNER_CONCURRENCY: z.coerce.number().int().min(1).default(16),
  /**
   * Async requests answered and delivered (or failed) are deleted with their callbacks this many days after their
   * ACK, as are settled notifies and answered requests sent upstream; 0 keeps them for ever. Pending work never is.
   */
  ASYNC_RETENTION_DAYS: z.coerce.number().int().min(0).default(30),
  /** An on-search callback grows to about this size before further results go into another message. */
  CALLBACK_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  /**
   * Gateway mode: how long a forwarded async search waits for its upstream's answer before it is failed and its caller
   * told so (a day: an upstream that ACKed holds the request, and may answer after hours of maintenance).
   */
  UPSTREAM_ANSWER_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(86_400),
  /** Largest sync search answer read from an upstream registry (gateway mode): beyond it the search fails with 502. */
  UPSTREAM_MAX_ANSWER_BYTES: z.coerce.number().int().min(1024).default(64 * 1024 * 1024),
});

export type Config = z.infer<typeof ConfigSchema> & { demoData: boolean; publicUrl: string };

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // A variable set to nothing (`PORT=` in a compose file) is unset, not zero or an empty path.
  const parsed = ConfigSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${issues}`);
  }
  const c = parsed.data;
  const production = c.NODE_ENV === 'production';
  if (production && !c.SIGNING_KEY) throw new Error('invalid configuration: SIGNING_KEY is required in production');
  if (production && !c.DATA_KEY) throw new Error('invalid configuration: DATA_KEY is required in production');
  // The embedded database is one process's files under DATA_DIR: a redeployed container starts on an empty registry.
  if (production && !c.DATABASE_URL) throw new Error('invalid configuration: DATABASE_URL is required in production (the embedded database is for development and tests)');
  if (production && c.UPSTREAMS_FILE && !c.PUBLIC_URL) {
    throw new Error('invalid configuration: PUBLIC_URL is required in production in gateway mode (UPSTREAMS_FILE): upstream registries send their answers to it');
  }
  if (c.DEFAULT_PAGE_SIZE > c.MAX_PAGE_SIZE) throw new Error(`invalid configuration: DEFAULT_PAGE_SIZE ${c.DEFAULT_PAGE_SIZE} is above MAX_PAGE_SIZE ${c.MAX_PAGE_SIZE}`);
  if (c.SERVER_PROCESSES > 1 && !c.DATABASE_URL) {
    throw new Error('invalid configuration: SERVER_PROCESSES above 1 needs DATABASE_URL (the embedded database is one process\'s own)');
  }
  return {
    ...c,
    demoData: production ? false : (c.DEMO_DATA ?? true),
    BENCH_ROUTES: production ? false : (c.BENCH_ROUTES ?? false),
    WORKERS: c.WORKERS ?? true,
    DCI_SIGNING: production ? true : (c.DCI_SIGNING ?? true),
    publicUrl: c.PUBLIC_URL ?? `http://localhost:${c.PORT}`,
  };
}
