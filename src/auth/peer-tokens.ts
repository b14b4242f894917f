import { type Dispatcher, request } from 'undici';
import type { PeerAuth } from './partners.js';
import { readBoundedText, SMALL_ANSWER_BYTES } from '../http/bounded-body.js';

interface CachedToken {
  token: string;
  /** ms epoch after which we fetch a new one (30 s before it expires). */
  refreshAt: number;
}

/**
 * Bearer tokens this server presents to other DCI systems (callbacks to partners, requests to upstream registries):
 * a configured fixed token, or one fetched with OAuth2 client credentials (DIGEST 7.3) and cached until shortly
 * before it expires. Concurrent callers share one fetch.
 */
export class PeerTokens {
  private readonly cache = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(private readonly opts: { dispatcher?: Dispatcher; timeoutMs: number }) {}

  async bearer(auth: PeerAuth | undefined): Promise<string | undefined> {
    if (!auth) return undefined;
    if ('bearerToken' in auth) return auth.bearerToken;
    const key = `${auth.tokenUrl} ${auth.clientId} ${auth.scope ?? ''}`;
    const cached = this.cache.get(key);
    if (cached && cached.refreshAt > Date.now()) return cached.token;
    let fetching = this.inflight.get(key);
    if (!fetching) {
      fetching = this.fetchToken(auth, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, fetching);
    }
    return fetching;
  }

  /** Forget a token the peer refused (401), so the next call fetches a new one. */
  invalidate(auth: PeerAuth | undefined): void {
    if (auth && 'tokenUrl' in auth) this.cache.delete(`${auth.tokenUrl} ${auth.clientId} ${auth.scope ?? ''}`);
  }

  private async fetchToken(auth: Extract<PeerAuth, { tokenUrl: string }>, key: string): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: auth.clientId, client_secret: auth.clientSecret });
    if (auth.scope) form.set('scope', auth.scope);
    const res = await request(auth.tokenUrl, {
      method: 'POST',
      body: form.toString(),
      // The DCI authz API requires a `timestamp` header, an HTTP-date (DIGEST 7.3): a registry holding to it refuses a request without one.
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', timestamp: new Date().toUTCString() },
      dispatcher: this.opts.dispatcher,
      headersTimeout: this.opts.timeoutMs,
      bodyTimeout: this.opts.timeoutMs,
    });
    const { text, complete } = await readBoundedText(res.body, { maxBytes: SMALL_ANSWER_BYTES, deadlineMs: this.opts.timeoutMs });
    if (res.statusCode !== 200) throw new Error(`token endpoint ${auth.tokenUrl} answered HTTP ${res.statusCode}`);
    if (!complete) throw new Error(`token endpoint ${auth.tokenUrl} answered with more than ${SMALL_ANSWER_BYTES} bytes`);
    const body = JSON.parse(text) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== 'string' || body.access_token === '') throw new Error(`token endpoint ${auth.tokenUrl} sent no access_token`);
    // expires_in is a string in the DCI authz schema and a number in RFC 6749 (DIGEST 7.3): accept both.
    const expiresIn = Number(body.expires_in);
    const lifetimeMs = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn * 1000 : 300_000;
    this.cache.set(key, { token: body.access_token, refreshAt: Date.now() + Math.max(0, lifetimeMs - 30_000) });
    return body.access_token;
  }
}
