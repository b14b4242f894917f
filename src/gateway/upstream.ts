import { z } from 'zod';
import type { PeerAuth } from '../auth/partners.js';
import { Jwks as JwksEntry, PeerAuthEntry, peerAuthFrom, readJsonFile } from '../auth/partners-file.js';
import type { Jwks } from '../dci/signing/partner-keys.js';
import type { PeerTokens } from '../auth/peer-tokens.js';
import type { EnvelopeBuilder } from '../dci/envelope/builder.js';
import { requestStatusOf } from '../dci/envelope/codes.js';
import { isObject } from '../dci/envelope/normalize.js';
import { duplicateReference, rejected, type RecordHandling, type SearchDomain, type SearchResponseItem } from '../dci/search/items.js';
import { forwardRefusal } from './forward-guard.js';
import { postWithPeerToken } from './peer-request.js';
import { handleRelayedRecords, headerReasonOf, relayedItem } from './relayed-items.js';
import type { SigningKey } from '../dci/signing/keys.js';
import { EnvelopeSigner } from '../dci/signing/signer.js';
import type { SignatureFormat, SignaturePolicy, SignatureVerifier } from '../dci/signing/verifier.js';
import { DciError, HeaderRejection } from '../http/errors.js';
import { readBoundedText } from '../http/bounded-body.js';
import { unprocessableJson } from '../http/json-body.js';

/** A domain served by another DCI registry: this gateway forwards its searches there. */
export interface Upstream {
  readonly domain: string;
  /** Its DCI id: `receiver_id` of what we send, the `sender_id` its answers carry. */
  readonly id: string;
  /** Our id there: the `sender_id` (and OAuth2 client) it knows us by. */
  readonly senderId: string;
  /** Base URL of the domain there, e.g. `https://crvs.example.gov/crvs`: `/registry/sync/search` is appended. */
  readonly baseUrl: string;
  readonly auth?: PeerAuth;
  /** Its public keys, to verify what it answers, and how strictly. */
  readonly jwks?: Jwks;
  readonly jwksUri?: string;
  readonly signature: SignaturePolicy;
  /** The dialect we sign in for it. */
  readonly signatureFormat: SignatureFormat;
}

const UpstreamEntry = z
  .object({
    domain: z.enum(['social', 'crvs', 'ibr', 'dr']),
    id: z.string().min(1),
    sender_id: z.string().min(1).optional(),
    base_url: z.string().url(),
    auth: PeerAuthEntry.optional(),
    jwks: JwksEntry.optional(),
    jwks_uri: z.string().url().optional(),
    signature: z.enum(['required', 'optional', 'off']).default('required'),
    signature_format: z.enum(['dci', 'jws-detached']).default('dci'),
  })
  .strict()
  .refine((u) => u.signature === 'off' || u.jwks || u.jwks_uri, { message: 'an upstream whose answers are verified needs jwks or jwks_uri' });

/** UPSTREAMS_FILE: a JSON array of upstream registries, at most one per domain (README: Gateway mode). */
export function loadUpstreamsFile(path: string, ourId: string): Upstream[] {
  const parsed = z.array(UpstreamEntry).safeParse(readJsonFile('UPSTREAMS_FILE', path));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`UPSTREAMS_FILE ${path}: upstream ${issue.path.join('.')}: ${issue.message}`);
  }
  const domains = new Set<string>();
  return parsed.data.map((u) => {
    if (domains.has(u.domain)) throw new Error(`UPSTREAMS_FILE ${path}: domain ${u.domain} appears twice`);
    domains.add(u.domain);
    return { domain: u.domain, id: u.id, senderId: u.sender_id ?? ourId, baseUrl: u.base_url, auth: peerAuthFrom(u.auth), jwks: u.jwks as Upstream['jwks'], jwksUri: u.jwks_uri, signature: u.signature, signatureFormat: u.signature_format };
  });
}

const unavailable = (upstream: Upstream, why: string) => new DciError(502, 'err.service.unavailable', `the ${upstream.domain} registry ${upstream.id} ${why}`);

/**
 * A sync search answered by the upstream registry: the items the caller may ask are sent on, signed by us with our
 * token there; the answer's signature is checked with the upstream's keys; its records are then projected for the
 * caller and audited exactly as local ones (the caller's handling), and the answer is re-signed by the route.
 */
export class UpstreamSearch {
  private readonly signer: EnvelopeSigner;

  constructor(
    readonly upstream: Upstream,
    /** Our own registry's search of the domain: what the caller may search by (forwardRefusal), the record types of what the upstream answers (relayedItem). */
    private readonly localSearch: SearchDomain | undefined,
    private readonly envelopes: EnvelopeBuilder,
    signingKey: SigningKey,
    private readonly peerTokens: PeerTokens,
    private readonly verifier: SignatureVerifier,
    private readonly limits: { timeoutMs: number; maxAnswerBytes: number },
  ) {
    this.signer = new EnvelopeSigner(signingKey, upstream.senderId);
  }

  /**
   * `transactionId`: what the upstream knows this search by, ours (the answer's correlation_id), not the caller's
   * transaction_id: that one is unique per caller only, and samples leave it empty (DIGEST 2.5, 11.4).
   */
  async answer(transactionId: string, items: Record<string, unknown>[], handling: RecordHandling): Promise<SearchResponseItem[]> {
    const answers: SearchResponseItem[] = new Array(items.length);
    const forwarded: number[] = [];
    const seen = new Set<string>();
    items.forEach((item, i) => {
      const refusal = duplicateReference(item, seen) ?? forwardRefusal(this.localSearch, item, handling);
      if (refusal) answers[i] = refusal;
      else forwarded.push(i);
    });
    if (forwarded.length === 0) return answers;
    // Sent under reference ids of ours, the item's place among those sent: a caller's may be empty (DIGEST 11.4),
    // and the upstream's answers are told apart by them.
    const byReference = await this.send(transactionId, forwarded.map((i, n) => ({ ...items[i], reference_id: String(n + 1) })));
    forwarded.forEach((i, n) => {
      const referenceId = typeof items[i].reference_id === 'string' ? items[i].reference_id : '';
      const answer = byReference.get(String(n + 1));
      answers[i] = answer
        ? handleRelayedRecords(relayedItem(answer, { referenceId, item: items[i] }, this.localSearch), handling, items[i])
        : rejected(referenceId, 'rjct.search_criteria.invalid', `the ${this.upstream.domain} registry did not answer this item`);
    });
    return answers;
  }

  private async send(transactionId: string, items: Record<string, unknown>[]): Promise<Map<string, Record<string, unknown>>> {
    const u = this.upstream;
    const header = { ...this.envelopes.requestHeader({ action: 'search', receiverId: u.id, totalCount: items.length }), sender_id: u.senderId };
    const body = this.signer.signedEnvelopeText(u.signatureFormat, header, { transaction_id: transactionId, search_request: items });
    let status: number;
    let text: string;
    let complete: boolean;
    try {
      const res = await postWithPeerToken(this.peerTokens, u.auth, `${u.baseUrl.replace(/\/+$/, '')}/registry/sync/search`, body, { timeoutMs: this.limits.timeoutMs });
      status = res.statusCode;
      ({ text, complete } = await readBoundedText(res.body, { maxBytes: this.limits.maxAnswerBytes, deadlineMs: this.limits.timeoutMs }));
    } catch (e) {
      throw unavailable(u, `could not be reached: ${(e as Error).message.slice(0, 200)}`);
    }
    if (status !== 200) throw unavailable(u, `answered HTTP ${status}${refusalOf(text)}`);
    if (!complete) throw unavailable(u, `answered with more than ${this.limits.maxAnswerBytes} bytes (UPSTREAM_MAX_ANSWER_BYTES)`);
    let answer: { signature?: unknown; header?: Record<string, unknown>; message?: { transaction_id?: unknown; search_response?: unknown } };
    try {
      answer = JSON.parse(text);
    } catch {
      throw unavailable(u, 'answered with something that is not JSON');
    }
    // Its records go to our audit log (jsonb) and into our signed answer: held to what we accept from callers.
    const unprocessable = unprocessableJson(text, () => answer);
    if (unprocessable) throw unavailable(u, `answered with JSON that cannot be processed (${unprocessable})`);
    try {
      await this.verifier.verify(u, answer.signature, text, u.id);
    } catch (e) {
      throw unavailable(u, `answered with a signature that does not verify (${(e as Error).message.slice(0, 200)})`);
    }
    // Refused as a whole (DIGEST 2.3): passed on as the async relay passes it on, not read as items left unanswered.
    if (requestStatusOf(answer.header?.status) === 'rjct') {
      const reason = headerReasonOf(answer.header ?? {}, u.id);
      throw new HeaderRejection(reason.code, reason.message);
    }
    if (!Array.isArray(answer.message?.search_response)) throw unavailable(u, 'answered without search_response');
    if (answer.message.transaction_id !== transactionId) throw unavailable(u, 'answered for another transaction_id');
    const out = new Map<string, Record<string, unknown>>();
    for (const r of answer.message.search_response) {
      if (!isObject(r) || typeof r.reference_id !== 'string') continue;
      if (out.has(r.reference_id)) throw unavailable(u, `answered item ${r.reference_id.slice(0, 20)} twice`);
      out.set(r.reference_id, r);
    }
    return out;
  }
}

/**
 * What an upstream's error answer says, to pass on: the code and message of its ACK error or HttpErrorResponse (DIGEST
 * 2.6, 2.7), shortened; nothing when it says nothing we can read.
 */
function refusalOf(text: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return '';
  }
  if (!isObject(body)) return '';
  const error = isObject(body.message) && isObject(body.message.error) ? body.message.error : Array.isArray(body.errors) && isObject(body.errors[0]) ? body.errors[0] : undefined;
  if (!error || typeof error.code !== 'string') return '';
  const said = typeof error.message === 'string' && error.message !== '' ? `: ${error.message.slice(0, 200)}` : '';
  return `: ${error.code.slice(0, 60)}${said}`;
}
