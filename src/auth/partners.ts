import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Database, Transaction } from '../db/client.js';
import type { Jwks } from '../dci/signing/partner-keys.js';
import type { RateLimit } from './rate-limit.js';
import { normalizeScopes } from './scopes.js';
import type { SignatureFormat, SignaturePolicy } from '../dci/signing/verifier.js';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>;

/**
 * A registered partner: its DCI `sender_id` and OAuth2 `client_id` are one id. This is the seam the trust issue
 * extends (signature policy, keys, callback origins, field projection, purposes).
 */
export interface Partner {
  readonly id: string;
  readonly scopes: readonly string[];
  /** `scrypt$<salt b64>$<hash b64>` */
  readonly secretHash: string;
  /**
   * When its current secret was set through the admin API, in microseconds since the epoch by the database's clock:
   * on adding the partner and whenever its secret changes. A token carries the moment it was issued under and stops
   * working when it is no longer the partner's: removing a partner and adding it back, or giving it a new secret, ends
   * its older tokens. (Their `iat` could not tell: it counts whole seconds, and a token issued in the second of the
   * change may be older or newer than it.)
   */
  readonly credentialsSince?: number;
  /** Where and how we may call this partner back; a partner without it gets no async service. */
  readonly callbacks?: CallbackSettings;
  /** Must its messages be signed (required), may they (optional: a signature present must verify), or not checked. */
  readonly signature: SignaturePolicy;
  /** The dialect we sign what we send this partner in (both are accepted from it). */
  readonly signatureFormat: SignatureFormat;
  /** Its public signing keys: inline, or the URL of its JWKS. */
  readonly jwks?: Jwks;
  readonly jwksUri?: string;
  /** The record fields it may receive (dotted paths); everything else is projected away. Absent: all fields. */
  readonly fields?: readonly string[];
  /** Purposes (consent/authorize `purpose.code`) it may ask under. Absent: any. */
  readonly purposes?: readonly string[];
  /** Encrypt what we send it (answers, callbacks) to the `use: "enc"` key in its JWKS (DIGEST 7.5). */
  readonly encryptResponses?: boolean;
  /** Its request budget on the DCI endpoints (429 beyond). Absent: unlimited. */
  readonly rateLimit?: RateLimit;
}

export interface CallbackSettings {
  /** Origins a callback may go to: `https://spmis.example.org`, `https://*.example.org`, or `*` (any public origin). */
  readonly origins: readonly string[];
  /** Used when a request names no `sender_uri`: the standard path (`/registry/on-search`...) is appended. */
  readonly baseUrl?: string;
  /** May callbacks reach loopback and private networks (development partners only). */
  readonly allowPrivateNetwork: boolean;
  /**
   * How callbacks authenticate to the partner: a fixed bearer token, or a token we obtain from the partner's OAuth2
   * token endpoint with client credentials (we are its OAuth client, DIGEST 1.3). None: no Authorization header.
   */
  readonly auth?: PeerAuth;
  /** Callbacks in flight to this partner at once (per process). */
  readonly maxConcurrent?: number;
}

export type PeerAuth = { readonly bearerToken: string } | { readonly tokenUrl: string; readonly clientId: string; readonly clientSecret: string; readonly scope?: string };

export const DEMO_PARTNER_ID = 'demo-spmis';
export const DEMO_PARTNER_SECRET = 'demo-spmis-secret';

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(secret, salt, 32);
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Is this a secret hash we can check a secret against (hashSecret's form)? A hash part that decodes to a few bytes, or
 * none (Buffer.from skips what is not base64), would match any secret, or one of a few guesses.
 */
export function isSecretHash(stored: string): boolean {
  const [scheme, saltB64, hashB64, ...rest] = stored.split('$');
  if (scheme !== 'scrypt' || rest.length > 0 || !saltB64 || !hashB64 || !BASE64.test(saltB64) || !BASE64.test(hashB64)) return false;
  return Buffer.from(saltB64, 'base64').length >= 16 && Buffer.from(hashB64, 'base64').length >= 32;
}

async function secretMatches(secret: string, stored: string): Promise<boolean> {
  if (!isSecretHash(stored)) return false;
  const [, saltB64, hashB64] = stored.split('$');
  const expected = Buffer.from(hashB64, 'base64');
  const actual = await scrypt(secret, Buffer.from(saltB64, 'base64'), expected.length);
  return timingSafeEqual(actual, expected);
}

/** Thrown when too many secret checks are waiting: the token endpoint answers 503 and the client tries again. */
export class SecretChecksBusy extends Error {}

/**
 * Secret checks run a few at a time, the rest wait in a bounded line. A check is scrypt (16 MB, tens of ms) on libuv's
 * thread pool of four, which also resolves the DNS names of callback hosts: the token endpoint takes no credentials
 * first, so a flood of guesses must neither take every thread nor queue without end.
 */
class SecretCheckGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly atOnce: number,
    private readonly maxWaiting: number,
  ) {}

  async run<T>(check: () => Promise<T>): Promise<T> {
    if (this.running >= this.atOnce) {
      if (this.waiting.length >= this.maxWaiting) throw new SecretChecksBusy('too many token requests at once');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await check();
    } finally {
      // The slot passes to the next in line, or is freed.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/** Who manages a partner: PARTNERS_FILE, the development default, the embedding code (tests), or the admin API. */
export type PartnerSource = 'file' | 'development' | 'config' | 'api';

/** A partner this start was configured with, and by what. */
export interface ConfiguredPartner {
  partner: Partner;
  source: Exclude<PartnerSource, 'api'>;
  /** The secret in clear when it was configured so (hashed with a new salt at each start). */
  secret?: string;
}

export interface StoredPartner {
  partner: Partner;
  source: PartnerSource;
  createdAt: string;
  updatedAt: string;
}

/** Held while a starting server writes its configured partners. */
const PARTNERS_LOCK_KEY = 727_276;

/** How often a process picks up partner changes other processes made through the admin API. */
const REFRESH_MS = 5_000;

/**
 * The registered partners, held in the `partners` table and served from memory. Changes made through this process
 * apply at once; those of other processes within REFRESH_MS.
 */
export class PartnerDirectory {
  private byId = new Map<string, Partner>();
  private version = '';
  private readonly secretChecks = new SecretCheckGate(2, 100);
  /** Counts this process's own changes: a reload read before one of them must not undo it. */
  private changes = 0;
  private timer?: NodeJS.Timeout;

  private constructor(private readonly db: Database) {}

  /**
   * The directory over the database. The partners this start was configured with replace their stored versions, and
   * configured partners no longer configured are removed (a demo partner never outlives development; a partner taken
   * out of PARTNERS_FILE is gone); partners added through the API stay. A configured partner new to the table, or
   * given a new secret, has its older tokens ended as through the API.
   */
  static async open(db: Database, configured: readonly ConfiguredPartner[]): Promise<PartnerDirectory> {
    await db.transaction(async (tx) => {
      // Servers starting at once on one database take turns: a partner new to the table gets one credentials moment.
      await tx.query('select pg_advisory_xact_lock($1)', [PARTNERS_LOCK_KEY]);
      await tx.query(`delete from partners where source <> 'api' and not (id = any($1::text[]))`, [configured.map((c) => c.partner.id)]);
      for (const { partner, source, secret } of configured) {
        const [existing] = await tx.query<{ settings: Omit<Partner, 'id'> }>('select settings from partners where id = $1 for update', [partner.id]);
        const stored = await withCredentialsSince(tx, partner, existing?.settings, secret);
        await tx.query(
          `insert into partners (id, source, settings) values ($1, $2, $3::jsonb)
           on conflict (id) do update set source = excluded.source, settings = excluded.settings, updated_at = now()`,
          [partner.id, source, JSON.stringify(settingsOf(stored))],
        );
      }
    });
    const directory = new PartnerDirectory(db);
    await directory.refresh();
    directory.timer = setInterval(() => directory.refresh().catch(() => {}), REFRESH_MS);
    directory.timer.unref();
    return directory;
  }

  close(): void {
    clearInterval(this.timer);
  }

  get(id: string): Partner | undefined {
    return this.byId.get(id);
  }

  /**
   * The partner as registered now, for work another process may have accepted: one added there since this process's
   * last reload is read from the table, and undefined means it is not registered (removed).
   */
  async current(id: string): Promise<Partner | undefined> {
    if (!this.byId.has(id)) await this.refresh();
    return this.byId.get(id);
  }

  all(): Iterable<Partner> {
    return this.byId.values();
  }

  /**
   * The partner when the credentials are right; undefined otherwise (unknown id and wrong secret look alike). Throws
   * SecretChecksBusy when too many checks are waiting.
   */
  authenticate(clientId: string, secret: string): Promise<Partner | undefined> {
    return this.secretChecks.run(async () => {
      const partner = this.byId.get(clientId);
      if (!partner) {
        await scrypt(secret, randomBytes(16), 32); // same cost as a real check: no timing oracle for ids
        return undefined;
      }
      return (await secretMatches(secret, partner.secretHash)) ? partner : undefined;
    });
  }

  /** Reloads the partners when the table changed since the last load; `via` a caller's open transaction, if it has one. */
  async refresh(via: Pick<Database, 'query'> = this.db): Promise<void> {
    const [v] = await via.query<{ n: number; at: string | null }>('select count(*)::int as n, max(updated_at)::text as at from partners');
    const version = `${v.n}:${v.at}`;
    if (version === this.version) return;
    const changesBefore = this.changes;
    const next = new Map<string, Partner>();
    for (const row of await this.list(undefined, via)) next.set(row.partner.id, row.partner);
    // A put or remove here while the list was read: the list may predate it (a removed partner would come back until
    // the next reload). The next reload reads afresh.
    if (this.changes !== changesBefore) return;
    this.byId = next;
    this.version = version;
  }

  async list(id?: string, via: Pick<Database, 'query'> = this.db): Promise<StoredPartner[]> {
    const rows = await via.query<{ id: string; source: PartnerSource; settings: Omit<Partner, 'id'>; created_at: string; updated_at: string }>(
      `select id, source, settings, created_at, updated_at from partners ${id === undefined ? '' : 'where id = $1'} order by id`,
      id === undefined ? [] : [id],
    );
    // Scopes stored before they were normalised on the way in may still hold the `/` form.
    return rows.map((r) => ({
      partner: { ...r.settings, scopes: normalizeScopes(r.settings.scopes ?? []), id: r.id },
      source: r.source,
      createdAt: iso(r.created_at),
      updatedAt: iso(r.updated_at),
    }));
  }

  /**
   * Adds or replaces an API-managed partner; `conflict` when the id belongs to a partner managed elsewhere (its file
   * or configuration would overwrite any change at the next start).
   */
  async put(
    partner: Partner,
    audit: (tx: Transaction, outcome: 'created' | 'replaced') => Promise<void>,
    /** The secret in clear when it was given so: its hash is salted anew, so only the secret tells whether it changed. */
    secret?: string,
  ): Promise<'created' | 'replaced' | 'conflict'> {
    const saved = await this.db.transaction(async (tx) => {
      const [existing] = await tx.query<{ source: PartnerSource; settings: Omit<Partner, 'id'> }>('select source, settings from partners where id = $1 for update', [partner.id]);
      if (existing && existing.source !== 'api') return 'conflict' as const;
      const stored = await withCredentialsSince(tx, partner, existing?.settings, secret);
      await tx.query(
        `insert into partners (id, source, settings) values ($1, 'api', $2::jsonb)
         on conflict (id) do update set settings = excluded.settings, updated_at = now()`,
        [partner.id, JSON.stringify(settingsOf(stored))],
      );
      const outcome = existing ? ('replaced' as const) : ('created' as const);
      await audit(tx, outcome);
      return { outcome, stored };
    });
    if (saved === 'conflict') return saved;
    this.changes++;
    this.byId.set(partner.id, saved.stored);
    return saved.outcome;
  }

  /** Removes an API-managed partner: its tokens stop working at once here, within REFRESH_MS elsewhere. */
  async remove(id: string, audit: (tx: Transaction) => Promise<void>): Promise<'removed' | 'missing' | 'conflict'> {
    const outcome = await this.db.transaction(async (tx) => {
      const [existing] = await tx.query<{ source: PartnerSource }>('select source from partners where id = $1 for update', [id]);
      if (!existing) return 'missing' as const;
      if (existing.source !== 'api') return 'conflict' as const;
      await tx.query('delete from partners where id = $1', [id]);
      await audit(tx);
      return 'removed' as const;
    });
    if (outcome === 'removed') {
      this.changes++;
      this.byId.delete(id);
    }
    return outcome;
  }
}

const iso = (v: string) => new Date(v).toISOString();

/**
 * The partner to store over the version `held` in the table: the same secret keeps its hash and its credentialsSince
 * (its tokens stay good); a new secret, or a partner new to the table, gets credentialsSince now. `secret` is the clear
 * secret when it was given so: its hash is salted anew, so only the secret tells whether it changed.
 */
async function withCredentialsSince(tx: Transaction, partner: Partner, held: Omit<Partner, 'id'> | undefined, secret: string | undefined): Promise<Partner> {
  const sameSecret = !!held?.secretHash && (secret === undefined ? partner.secretHash === held.secretHash : await secretMatches(secret, held.secretHash));
  if (sameSecret) return { ...partner, secretHash: held.secretHash, credentialsSince: held.credentialsSince };
  const [{ since }] = await tx.query<{ since: number }>(`select floor(extract(epoch from clock_timestamp()) * 1000000)::float8 as since`);
  return { ...partner, credentialsSince: since };
}

function settingsOf(partner: Partner): Omit<Partner, 'id'> {
  const { id: _id, ...settings } = partner;
  return settings;
}

/** The development partner of the run contract (design.md section 4); never present in production. */
export async function demoPartner(): Promise<Partner> {
  return {
    id: DEMO_PARTNER_ID,
    scopes: ['*'],
    secretHash: await hashSecret(DEMO_PARTNER_SECRET),
    callbacks: { origins: ['*'], allowPrivateNetwork: true },
    // The run contract's curl walk-through sends no signature; one that is sent must verify.
    signature: 'optional',
    signatureFormat: 'dci',
  };
}
