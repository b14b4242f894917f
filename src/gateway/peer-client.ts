import type { Dispatcher } from 'undici';
import type { PeerAuth } from '../auth/partners.js';
import type { PeerTokens } from '../auth/peer-tokens.js';
import type { EnvelopeBuilder } from '../dci/envelope/builder.js';
import type { EnvelopeSigner } from '../dci/signing/signer.js';
import type { SignatureFormat } from '../dci/signing/verifier.js';
import { ackMessageOf } from '../dci/envelope/normalize.js';
import type { OutboundStore } from '../dci/transactions/outbound-store.js';
import { readBoundedText, SMALL_ANSWER_BYTES } from '../http/bounded-body.js';
import { unprocessableJson } from '../http/json-body.js';
import { postWithPeerToken } from './peer-request.js';

/** Another DCI registry this server sends requests to (an upstream CRVS, another IBR, or a partner under test). */
export interface Peer {
  /** Its DCI id: `receiver_id` of what we send, `sender_id` of its callbacks. */
  readonly id: string;
  /** Base URL of one of its domains, e.g. `https://crvs.example.gov/crvs`: `/registry/search` is appended. */
  readonly baseUrl: string;
  readonly auth?: PeerAuth;
}

export type SendOutcome =
  | { state: 'acknowledged'; outboundId: number; correlationId: string }
  /** `retryable`: the peer did not take it and may later: no answer at all, or HTTP 429, 502, 503 or 504. */
  | { state: 'refused'; outboundId: number; httpStatus: number | null; error: string; retryable: boolean };

const UNAVAILABLE_STATUSES = new Set([429, 502, 503, 504]);

/**
 * Sends async requests (search, subscribe, txn/status) to a peer registry as a DCI client: the request is stored before it
 * leaves, signed, sent with the peer's bearer token, and the peer's ACK is kept; the peer's callbacks are matched
 * to it by the callback receivers.
 */
export class PeerClient {
  constructor(
    private readonly outbound: OutboundStore,
    private readonly envelopes: EnvelopeBuilder,
    private readonly signer: EnvelopeSigner,
    private readonly peerTokens: PeerTokens,
    /** Where peers call us back: our public URL. */
    private readonly publicUrl: string,
    /** `senderId`: who we are at this peer, when not our own DCI id (an upstream may know us by another). */
    private readonly opts: { timeoutMs: number; dispatcher?: Dispatcher; senderId?: string; signatureFormat?: SignatureFormat },
  ) {}

  /** `relayFor`: our own async request (dci_transactions.id) whose caller gets the peer's on-search relayed. */
  search(peer: Peer, domain: string, message: { transaction_id: string; search_request: unknown[] }, relayFor?: number): Promise<SendOutcome> {
    return this.send(peer, domain, 'search', '/registry/search', '/registry/on-search', message, message.search_request.length, relayFor);
  }

  subscribe(peer: Peer, domain: string, message: { transaction_id: string; subscribe_request: unknown[] }): Promise<SendOutcome> {
    return this.send(peer, domain, 'subscribe', '/registry/subscribe', '/registry/on-subscribe', message, message.subscribe_request.length);
  }

  txnStatus(peer: Peer, domain: string, message: { transaction_id: string; txnstatus_request: unknown }): Promise<SendOutcome> {
    return this.send(peer, domain, 'txn-status', '/registry/txn/status', '/registry/txn/on-status', message, 1);
  }

  private async send(
    peer: Peer,
    domain: string,
    action: string,
    path: string,
    callbackPath: string,
    message: { transaction_id: string },
    totalCount: number,
    relayTransactionId?: number,
  ): Promise<SendOutcome> {
    const header = {
      ...this.envelopes.requestHeader({ action, senderUri: `${this.publicUrl.replace(/\/+$/, '')}/${domain}${callbackPath}`, receiverId: peer.id, totalCount }),
      ...(this.opts.senderId ? { sender_id: this.opts.senderId } : {}),
    };
    const outboundId = await this.outbound.record({ domain, peerId: peer.id, action, messageId: header.message_id, transactionId: message.transaction_id, request: { header, message }, relayTransactionId });
    const body = this.signer.signedEnvelopeText(this.opts.signatureFormat ?? 'dci', header, message);
    try {
      const res = await postWithPeerToken(this.peerTokens, peer.auth, `${peer.baseUrl.replace(/\/+$/, '')}${path}`, body, this.opts);
      /** Recorded with what the peer answered when we can keep it, else with the error. */
      const refused = async (error: string, answered: unknown = { error }): Promise<SendOutcome> => {
        await this.outbound.refused(outboundId, answered);
        return { state: 'refused', outboundId, httpStatus: res.statusCode, error, retryable: UNAVAILABLE_STATUSES.has(res.statusCode) };
      };
      const { text, complete } = await readBoundedText(res.body, { maxBytes: SMALL_ANSWER_BYTES, deadlineMs: this.opts.timeoutMs });
      if (!complete) return refused(`answered with more than ${SMALL_ANSWER_BYTES} bytes (HTTP ${res.statusCode})`);
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch {
        answer = undefined;
      }
      // The answer is stored (jsonb): text PostgreSQL cannot hold, or nesting too deep to walk, is no answer we can keep.
      const unprocessable = answer === undefined ? undefined : unprocessableJson(text, () => answer);
      if (unprocessable) return refused(`answered with JSON that cannot be processed (${unprocessable})`);
      const ack = ackMessageOf(answer);
      // ack_status is ACK in the spec; samples also write it in other cases (DIGEST 2.3).
      if (res.statusCode >= 200 && res.statusCode < 300 && String(ack?.ack_status ?? '').toUpperCase() === 'ACK' && typeof ack?.correlation_id === 'string') {
        await this.outbound.acknowledged(outboundId, answer, ack.correlation_id);
        return { state: 'acknowledged', outboundId, correlationId: ack.correlation_id };
      }
      return refused(ack?.error ? `${String(ack.error.code)}: ${String(ack.error.message ?? '')}` : `HTTP ${res.statusCode}`, answer ?? { text: storablePrefix(text, 2000) });
    } catch (err) {
      const error = (err as Error).message;
      await this.outbound.refused(outboundId, { error });
      return { state: 'refused', outboundId, httpStatus: null, error, retryable: true };
    }
  }
}

/**
 * At most `length` UTF-16 units of a peer's answer that is not JSON, as jsonb can store it: U+0000 replaced, and never
 * ending on the first half of a surrogate pair (text decoded from bytes holds no other lone surrogate).
 */
function storablePrefix(text: string, length: number): string {
  const prefix = text.slice(0, length).replaceAll('\0', '\uFFFD');
  return /[\uD800-\uDBFF]$/.test(prefix) ? prefix.slice(0, -1) : prefix;
}
