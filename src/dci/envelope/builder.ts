import { randomUUID } from 'node:crypto';
import type { DciErrorCode, HeaderReasonCode, RequestStatus } from './codes.js';
import { PROTOCOL_VERSION } from './codes.js';

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
}

export interface Envelope<M> {
  signature?: string;
  header: CallbackHeader;
  message: M;
}

export const newMessageId = (): string => randomUUID();
export const newCorrelationId = (): string => randomUUID();
/** RFC 3339 with offset (Z), as every DCI date-time. */
export const nowTimestamp = (): string => new Date().toISOString();

/**
 * The one envelope builder: every DCI message this server emits gets its header here. Signing plugs in at
 * `envelope()` (the trust issue adds the signer).
 */
export class EnvelopeBuilder {
  constructor(private readonly senderId: string) {}

  callbackHeader(opts: {
    action: string;
    status: RequestStatus;
    receiverId?: string;
    totalCount?: number;
    completedCount?: number;
    reasonCode?: HeaderReasonCode;
    reasonMessage?: string;
  }): CallbackHeader {
    // Members in the order of MsgCallbackHeader_V1.0.0; absent optional ones are left out, not null.
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
    } as CallbackHeader;
    for (const k of Object.keys(header) as (keyof CallbackHeader)[]) if (header[k] === undefined) delete header[k];
    return header;
  }

  envelope<M>(header: CallbackHeader, message: M): Envelope<M> {
    return { header, message };
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

function truncate(s: string): string {
  return s.length > 999 ? s.slice(0, 996) + '...' : s;
}
