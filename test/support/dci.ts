import { randomUUID } from 'node:crypto';
import { outputValidator } from '../../src/dci/envelope/schemas.js';

/** One search item as a partner writes it. */
export function searchItem(criteria: Record<string, unknown>, referenceId: string = randomUUID()): Record<string, unknown> {
  return { reference_id: referenceId, timestamp: new Date().toISOString(), search_criteria: { version: '1.0.0', ...criteria }, locale: 'eng' };
}

/** A complete sync-search envelope from the demo partner. */
export function searchEnvelope(items: Record<string, unknown>[], header: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    signature: '',
    header: {
      version: '1.0.0',
      message_id: randomUUID(),
      message_ts: new Date().toISOString(),
      action: 'search',
      sender_id: 'demo-spmis',
      receiver_id: 'dci-gateway',
      total_count: items.length,
      is_msg_encrypted: false,
      ...header,
    },
    message: { transaction_id: `txn-${randomUUID()}`, search_request: items },
  };
}

export async function postJson(url: string, token: string | undefined, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

const validSyncResponse = outputValidator('sync-search-response.schema.json');
const validErrorBody = outputValidator('error-body.schema.json');

/** Asserts that a body is exactly the sync search response shape we promise (our schema, no extra members). */
export function expectValidSearchResponse(body: unknown): void {
  if (!validSyncResponse(body)) throw new Error(`response does not match sync-search-response schema: ${JSON.stringify(validSyncResponse.errors)}`);
}

export function expectErrorBody(body: unknown, code: string): void {
  if (!validErrorBody(body)) throw new Error(`not a DCI error body: ${JSON.stringify(validErrorBody.errors)} in ${JSON.stringify(body)}`);
  const b = body as { message: { error: { code: string } }; errors: { code: string }[] };
  if (b.message.error.code !== code || b.errors[0].code !== code) throw new Error(`expected error ${code}, got ${b.message.error.code}`);
}

/** Asserts that a body matches one of our output schemas exactly (what we promise to emit). */
export function expectSchema(file: string, body: unknown): void {
  const validate = outputValidator(file);
  if (!validate(body)) throw new Error(`does not match ${file}: ${JSON.stringify(validate.errors)} in ${JSON.stringify(body).slice(0, 2000)}`);
}
