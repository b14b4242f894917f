import { randomUUID } from 'node:crypto';
import type { DciErrorCode, HeaderReasonCode, RequestStatus } from './codes.js';
import { PROTOCOL_VERSION } from './codes.js';
import { canonicalDigest, escapeNonAscii, sortedJson } from '../signing/canonical.js';
import type { Partner } from '../../auth/partners.js';
import { DciError, type HeaderRejection } from '../../http/errors.js';
import type { MessageCrypto } from '../signing/encryption.js';
import type { PartnerKeys } from '../signing/partner-keys.js';
import type { EnvelopeSigner } from '../signing/signer.js';
import type { SignatureFormat } from '../signing/verifier.js';

/** The request header as validated by msg-header.schema.json. */
export interface RequestHeader {
  version?: string;
  message_id: string;
  message_ts: string;
  action: string;
  sender_id: string;
  sender_uri?: string;
  receiver_id?: string;
  total_count: number;
  is_msg_encrypted?: boolean;
  meta?: Record<string, unknown>;
}

export interface CallbackHeader {
  version: string;
  message_id: string;
  message_ts: string;
  action: string;
  status: RequestStatus;
  status_reason_code?: HeaderReasonCode;
  status_reason_message?: string;
  total_count?: number;
  completed_count?: number;
  sender_id?: string;
  receiver_id?: string;
  is_msg_encrypted: boolean;
  meta?: Record<string, string>;
}

export const newMessageId = (): string => randomUUID();
export const newCorrelationId = (): string => randomUUID();
/** RFC 3339 with offset (Z), as every DCI date-time. */
export const nowTimestamp = (): string => new Date().toISOString();

/** What the builder needs to encrypt messages for partners that ask for it (DIGEST 7.5). */
export interface MessageSealing {
  crypto: MessageCrypto;
  partnerKeys: PartnerKeys;
}

/**
 * The one envelope builder: every DCI message this server emits gets its header here, its encryption for partners
 * that ask for it (`forPartner`), and its signature (`envelopeText`).
 */
export class EnvelopeBuilder {
  constructor(
    private readonly senderId: string,
    /** Signs what we answer; absent only where signing is switched off (DCI_SIGNING=off, benchmarks). */
    private readonly signer?: EnvelopeSigner,
    private readonly sealing?: MessageSealing,
  ) {}

  callbackHeader(opts: {
    action: string;
    status: RequestStatus;
    receiverId?: string;
    totalCount?: number;
    completedCount?: number;
    reasonCode?: HeaderReasonCode;
    reasonMessage?: string;
    /** Unencrypted name/values for the receiver (a notify's subscription_code, DIGEST 3.5). */
    meta?: Record<string, string>;
  }): CallbackHeader {
    // Absent optional members are left out, not null (the envelope text sorts the keys).
    const header = {
      version: PROTOCOL_VERSION,
      message_id: newMessageId(),
      message_ts: nowTimestamp(),
      action: opts.action,
      status: opts.status,
      status_reason_code: opts.reasonCode,
      status_reason_message: opts.reasonMessage === undefined ? undefined : truncate(opts.reasonMessage),
      total_count: opts.totalCount,
      completed_count: opts.completedCount,
      sender_id: this.senderId,
      receiver_id: opts.receiverId,
      is_msg_encrypted: false,
      meta: opts.meta,
    } as CallbackHeader;
    for (const k of Object.keys(header) as (keyof CallbackHeader)[]) if (header[k] === undefined) delete header[k];
    return header;
  }

  /** The header of a request this server sends to another registry (MsgHeader_V1.0.0). */
  requestHeader(opts: { action: string; senderUri?: string; receiverId: string; totalCount: number }): RequestHeader {
    const header: RequestHeader = {
      version: PROTOCOL_VERSION,
      message_id: newMessageId(),
      message_ts: nowTimestamp(),
      action: opts.action,
      sender_id: this.senderId,
      sender_uri: opts.senderUri,
      receiver_id: opts.receiverId,
      total_count: opts.totalCount,
      is_msg_encrypted: false,
    };
    if (header.sender_uri === undefined) delete header.sender_uri;
    return header;
  }

  /** The envelope as the JSON text to send, signed in the dialect of the partner it is for. */
  envelopeText(header: CallbackHeader, message: unknown, format: SignatureFormat): string {
    return this.signer ? this.signer.signedEnvelopeText(format, header, message) : sortedJson({ header, message });
  }

  /**
   * The header and message as this partner receives them: with `encrypt_responses`, the message encrypted to the
   * partner's `use: "enc"` key and `is_msg_encrypted` set. A partner that asks for encryption but publishes no key gets
   * nothing in clear: 503.
   */
  async forPartner<H extends { is_msg_encrypted?: boolean }>(partner: Partner, header: H, message: unknown): Promise<{ header: H; message: unknown }> {
    if (!partner.encryptResponses) return { header, message };
    const target = this.sealing && (await this.sealing.partnerKeys.encryptionTarget(partner));
    if (!this.sealing || !target) throw new DciError(503, 'err.service.unavailable', `partner ${partner.id} asks for encrypted messages but publishes no encryption key we can use`);
    return { header: { ...header, is_msg_encrypted: true }, message: await this.sealing.crypto.encrypt(message, target) };
  }

  /**
   * Fetches ahead what `forPartner` needs from the network (the partner's encryption key, from its JWKS), so that an
   * envelope built for it inside a database transaction waits on no partner's server: the cache answers, or the fetch
   * just failed and is not tried again so soon.
   */
  async prepareFor(partner: Partner): Promise<void> {
    if (partner.encryptResponses && this.sealing) await this.sealing.partnerKeys.encryptionTarget(partner).catch(() => undefined);
  }

  /**
   * A callback as the outbox stores it: what `forPartner` gives, as sorted-key text (its own canonical form up to
   * non-ASCII escaping, so each delivery attempt signs it without reparsing) and its DCI digest, computed once.
   */
  async storedCallback(partner: Partner | undefined, header: CallbackHeader, message: unknown): Promise<{ body: string; digest: string }> {
    const body = sortedJson(partner ? await this.forPartner(partner, header, message) : { header, message });
    return { body, digest: canonicalDigest(escapeNonAscii(body)) };
  }

  /** `envelopeText` of what `forPartner` gives: the answer to a partner's request, encrypted if it asks for it. */
  async envelopeTextFor(partner: Partner, header: CallbackHeader, message: unknown): Promise<string> {
    const sealed = await this.forPartner(partner, header, message);
    return this.envelopeText(sealed.header, sealed.message, partner.signatureFormat);
  }

  /**
   * The signed answer to a sync message refused as a whole: header status `rjct` with the rejection's reason code and
   * text, nothing completed; `message` carries the answer's empty members.
   */
  rejectionTextFor(partner: Partner, rejection: HeaderRejection, reply: { action: string; receiverId: string; totalCount: number }, message: unknown): Promise<string> {
    const header = this.callbackHeader({
      ...reply,
      status: 'rjct',
      reasonCode: rejection.reasonCode,
      reasonMessage: rejection.message,
      completedCount: 0,
    });
    return this.envelopeTextFor(partner, header, message);
  }
}

/**
 * The error body of a refused request (DIGEST 8): the ACK shape with ack_status ERR plus the HttpErrorResponse
 * `errors` list, so a client reading either spec schema finds the code.
 */
export function errorBody(code: DciErrorCode, message: string, correlationId = newCorrelationId()) {
  const text = truncate(message);
  return {
    message: { ack_status: 'ERR' as const, timestamp: nowTimestamp(), correlation_id: correlationId, error: { code, message: text } },
    errors: [{ code, message: text }],
  };
}

/** The ACK body of an accepted async request or a received callback (DIGEST 2.6). */
export function ackBody(correlationId: string, timestamp: string = nowTimestamp()) {
  return { message: { ack_status: 'ACK' as const, timestamp, correlation_id: correlationId } };
}

/**
 * An async request refused as a whole for a reason the spec gives a header code for (duplicate message_id, counts):
 * the error body plus a callback header carrying `status: rjct` and the `status_reason_code`, the envelope form of
 * the ACK that the DR and IBR samples use (DIGEST 2.6, 11.2 #22).
 */
export function headerRejectionBody(header: CallbackHeader, correlationId: string) {
  const reason = `${header.status_reason_code}: ${header.status_reason_message ?? ''}`;
  return { header, ...errorBody('err.request.bad', reason, correlationId) };
}

function truncate(s: string): string {
  return s.length > 999 ? s.slice(0, 996) + '...' : s;
}
