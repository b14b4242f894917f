/**
 * Liberal input (DIGEST 11.4): the published samples and several implementations send empty strings for absent
 * optional members and a lone object where the schema wants an array. These rewrites run before schema validation;
 * anything still invalid afterwards is refused with err.request.bad.
 */

const OPTIONAL_HEADER_STRINGS = ['version', 'sender_uri', 'receiver_id', 'meta', 'status_reason_code', 'status_reason_message', 'completed_count'];

export function normalizeRequestEnvelope(body: unknown, batchMember?: string): void {
  if (!isObject(body)) return;
  const header = body.header;
  if (isObject(header)) {
    for (const k of OPTIONAL_HEADER_STRINGS) if (header[k] === '' || header[k] === null) delete header[k];
    // Read before the schema coerces it: whether the message is to be decrypted depends on it.
    const encrypted = String(header.is_msg_encrypted).toLowerCase();
    if (encrypted === 'true' || encrypted === '1') header.is_msg_encrypted = true;
    else if (encrypted === 'false' || encrypted === '0') header.is_msg_encrypted = false;
  }
  const message = body.message;
  if (isObject(message)) {
    // DR/FR samples send search_request as one object (DIGEST 11.4).
    if (batchMember && isObject(message[batchMember])) message[batchMember] = [message[batchMember]];
    if (message.transaction_id === null) message.transaction_id = '';
    if (typeof message.transaction_id === 'number') message.transaction_id = String(message.transaction_id);
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Empty strings and null count as absent (DIGEST 11.4). */
export function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

/** An ACK answer's message (DIGEST 2.6): `ack_status`, `correlation_id`, `error`. */
export interface AckMessage {
  ack_status?: unknown;
  correlation_id?: unknown;
  error?: { code?: unknown; message?: unknown };
}

/** The ACK in a peer's answer: its message, or the message inside it where the IBR sample nests it (DIGEST 11.4). */
export function ackMessageOf(answer: unknown): AckMessage | undefined {
  const message = isObject(answer) && isObject(answer.message) ? answer.message : undefined;
  return message?.ack_status === undefined && isObject(message?.message) ? message.message : message;
}
