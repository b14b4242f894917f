import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FlattenedEncrypt, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectErrorBody, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * Encrypted DCI messages (DIGEST 7.5): a partner encrypts its message to our `use: "enc"` key and we answer, sync and
 * async, encrypted to its key. The partner side is independent code (test/support/dci_interop.py: RSA-OAEP-256 and
 * A256GCM written with Python's `cryptography`), and it signs the message as sent, encrypted.
 */

const INTEROP = fileURLToPath(new URL('./support/dci_interop.py', import.meta.url));
const python = (command: Record<string, unknown>): any => JSON.parse(execFileSync('python3', [INTEROP], { input: JSON.stringify(command) }).toString());

let server: TestServer;
let receiver: CallbackReceiver;
let keys: { rsa: { pem: string; jwk: any }; rsa_enc: { pem: string; jwk: any } };
let ourSigning: any;
let ourEncryption: any;
let uin: string;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  keys = python({ op: 'keys' });
  receiver = await CallbackReceiver.start();
  const callbacks = { origins: [receiver.url], allowPrivateNetwork: true };
  server = await startTestServer({ WORKER_POLL_MS: '50' }, {
    partners: [
      {
        id: 'sealed-partner',
        secret: 'sealed-partner-secret',
        scopes: ['social:registry.search'],
        signature: 'required',
        signatureFormat: 'jws-detached',
        jwks: { keys: [keys.rsa.jwk, keys.rsa_enc.jwk] },
        encryptResponses: true,
        callbacks,
      },
      // Asks for encrypted answers but publishes only a signing key.
      { id: 'keyless-partner', secret: 'keyless-partner-secret', scopes: ['social:registry.search'], signature: 'off', jwks: { keys: [keys.rsa.jwk] }, encryptResponses: true },
    ],
  });
  const jwks = ((await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: any[] }).keys;
  ourSigning = jwks[0];
  ourEncryption = jwks.find((k) => k.use === 'enc');
  tokens.sealed = await server.token({ clientId: 'sealed-partner', secret: 'sealed-partner-secret' });
  tokens.keyless = await server.token({ clientId: 'keyless-partner', secret: 'keyless-partner-secret' });
  tokens.demo = await server.token();
  const [row] = await server.db.query(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' order by x.id limit 1`);
  uin = clearValue(row);
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

/** A search envelope whose message is encrypted to our key and which the partner signs as sent. */
function sealedRequest(criteria: Record<string, unknown>, header: Record<string, unknown> = {}, sign = true): string {
  const clear = searchEnvelope([searchItem(criteria, 'r-1')], { sender_id: 'sealed-partner', ...header });
  const envelope = { header: { ...(clear.header as object), is_msg_encrypted: true }, message: python({ op: 'jwe-encrypt', jwk: ourEncryption, plaintext: clear.message }) };
  return sign ? python({ op: 'sign-jws', pem: keys.rsa.pem, kid: keys.rsa.jwk.kid, envelope_text: JSON.stringify(envelope) }).text : JSON.stringify(envelope);
}

const byUin = { query_type: 'idtype-value', response_entity: 'Person', query: { type: 'UIN', value: '' } };

describe('encrypted messages', () => {
  it('publishes our encryption key beside the signing key', () => {
    expect(ourSigning.use).toBe('sig');
    expect(ourEncryption).toMatchObject({ kty: 'RSA', use: 'enc', alg: 'RSA-OAEP-256' });
    expect(typeof ourEncryption.kid).toBe('string');
    expect(ourEncryption.d).toBeUndefined();
  });

  it('answers an encrypted, signed sync search encrypted to the partner and signed over what it sends', async () => {
    const res = await postJson(`${server.url}/social/registry/sync/search`, tokens.sealed, sealedRequest({ ...byUin, query: { type: 'UIN', value: uin } }));
    expect(res.status).toBe(200);
    expect(res.json.header).toMatchObject({ action: 'on-search', status: 'succ', is_msg_encrypted: true });
    expect(res.json.message.header).toEqual({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'py-rsa-enc-1' });
    expect(res.text).not.toContain(uin);
    expect(python({ op: 'verify-jws', text: res.text, jwk: ourSigning }).valid).toBe(true);
    const { plaintext } = python({ op: 'jwe-decrypt', pem: keys.rsa_enc.pem, jwe: res.json.message });
    expect(plaintext.search_response[0].status).toBe('succ');
    expect(plaintext.search_response[0].data.reg_records[0].identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: uin });
  });

  it('calls an async search back encrypted', async () => {
    const res = await postJson(`${server.url}/social/registry/search`, tokens.sealed, sealedRequest({ ...byUin, query: { type: 'UIN', value: uin } }, { sender_uri: `${receiver.url}/on-search` }));
    expect(res.status).toBe(202);
    const correlationId = res.json.message.correlation_id;
    const clearOf = new Map<unknown, any>();
    const opened = () =>
      receiver.requests
        .filter((r) => r.body?.header?.is_msg_encrypted === true)
        .map((r) => {
          if (!clearOf.has(r)) clearOf.set(r, python({ op: 'jwe-decrypt', pem: keys.rsa_enc.pem, jwe: r.body.message }).plaintext);
          return { r, clear: clearOf.get(r) };
        })
        .filter((x) => x.clear.correlation_id === correlationId);
    const [callback] = await waitFor(() => opened().length > 0 && opened());
    expect(callback.r.body.header).toMatchObject({ action: 'on-search', status: 'succ', is_msg_encrypted: true });
    expect(callback.r.text).not.toContain(uin);
    expect(python({ op: 'verify-jws', text: callback.r.text, jwk: ourSigning }).valid).toBe(true);
    expect(callback.clear.search_response[0].data.reg_records[0].identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: uin });
  });

  it('answers in clear a partner that encrypts its requests but did not ask for encrypted answers', async () => {
    const clear = searchEnvelope([searchItem({ ...byUin, query: { type: 'UIN', value: uin } })]);
    const envelope = { header: { ...(clear.header as object), is_msg_encrypted: true }, message: python({ op: 'jwe-encrypt', jwk: ourEncryption, plaintext: clear.message }) };
    const res = await postJson(`${server.url}/social/registry/sync/search`, tokens.demo, envelope);
    expect(res.status).toBe(200);
    expect(res.json.header.is_msg_encrypted).toBe(false);
    expect(res.json.message.search_response[0].data.reg_records).toHaveLength(1);
  });

  it('opens a message whose header says is_msg_encrypted as 1 or "1" (a boolean the schema coerces), and takes 0 as clear', async () => {
    const clear = searchEnvelope([searchItem({ ...byUin, query: { type: 'UIN', value: uin } })]);
    const jwe = python({ op: 'jwe-encrypt', jwk: ourEncryption, plaintext: clear.message });
    for (const flag of [1, '1']) {
      const res = await postJson(`${server.url}/social/registry/sync/search`, tokens.demo, { header: { ...(clear.header as object), message_id: `enc-flag-${flag}-${typeof flag}`, is_msg_encrypted: flag }, message: jwe });
      expect(res.status, `${typeof flag} ${flag}: ${res.text.slice(0, 300)}`).toBe(200);
      expect(res.json.message.search_response[0].data.reg_records[0].identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: uin });
    }
    const inClear = await postJson(`${server.url}/social/registry/sync/search`, tokens.demo, { header: { ...(clear.header as object), message_id: 'enc-flag-0', is_msg_encrypted: 0 }, message: clear.message });
    expect(inClear.status).toBe(200);
    expect(inClear.json.message.search_response[0].status).toBe('succ');
  });

  it('opens a JWE whose alg, enc and kid travel in its protected header (as JOSE libraries write flattened JWEs by default)', async () => {
    const clear = searchEnvelope([searchItem({ ...byUin, query: { type: 'UIN', value: uin } })]);
    const jwe = await new FlattenedEncrypt(new TextEncoder().encode(JSON.stringify(clear.message)))
      .setProtectedHeader({ alg: ourEncryption.alg, enc: 'A256GCM', kid: ourEncryption.kid })
      .encrypt(await importJWK(ourEncryption, ourEncryption.alg));
    const res = await postJson(`${server.url}/social/registry/sync/search`, tokens.demo, { header: { ...(clear.header as object), is_msg_encrypted: true }, message: jwe });
    expect(res.status, res.text).toBe(200);
    expect(res.json.message.search_response[0].data.reg_records).toHaveLength(1);
  });

  it('holds a decrypted message to what a clear one must be: U+0000, an unpaired surrogate or deep nesting is 400 err.request.bad', async () => {
    let deep: unknown = uin;
    for (let i = 0; i < 100; i++) deep = [deep];
    for (const [name, value, why] of [
      ['U+0000', `${uin}\u0000`, /U\+0000/],
      ['an unpaired surrogate', `${uin}\ud800`, /unpaired surrogate/],
      ['100 levels of arrays', deep, /deeper than 64/],
    ] as const) {
      for (const route of ['sync/search', 'search']) {
        const res = await postJson(`${server.url}/social/registry/${route}`, tokens.sealed, sealedRequest({ ...byUin, query: { type: 'UIN', value } }, { sender_uri: `${receiver.url}/on-search` }));
        expect(res.status, `${route}: ${name}`).toBe(400);
        expectErrorBody(res.json, 'err.request.bad');
        expect(res.json.message.error.message, `${route}: ${name}`).toMatch(why);
      }
    }
  });

  it('refuses what it cannot open with err.encryption.invalid (400), and sends nothing in clear to a partner without a key', async () => {
    const clear = searchEnvelope([searchItem({ ...byUin, query: { type: 'UIN', value: uin } })]);
    const jwe = python({ op: 'jwe-encrypt', jwk: ourEncryption, plaintext: clear.message });
    const flip = (b64: string) => (b64[0] === 'A' ? 'B' : 'A') + b64.slice(1);
    const bad: [string, unknown][] = [
      ['a clear message marked encrypted', clear.message],
      ['a JWE for another key', { ...jwe, header: { ...jwe.header, kid: 'someone-else' } }],
      ['another algorithm', { ...jwe, header: { ...jwe.header, alg: 'RSA1_5' } }],
      ['a tampered ciphertext', { ...jwe, ciphertext: flip(jwe.ciphertext) }],
      ['a tampered tag', { ...jwe, tag: flip(jwe.tag) }],
      ['no encrypted key', { ...jwe, encrypted_key: undefined }],
      ['a string', 'eyJhbGciOi...'],
    ];
    for (const [name, message] of bad) {
      const res = await postJson(`${server.url}/social/registry/sync/search`, tokens.demo, { header: { ...(clear.header as object), is_msg_encrypted: true }, message });
      expect(res.status, name).toBe(400);
      expectErrorBody(res.json, 'err.encryption.invalid');
      expect(res.text, name).not.toContain(uin);
    }
    // A signed, encrypted request from a partner whose signature is required is still refused unsigned.
    const unsigned = await postJson(`${server.url}/social/registry/sync/search`, tokens.sealed, sealedRequest({ ...byUin, query: { type: 'UIN', value: uin } }, {}, false));
    expect(unsigned.status).toBe(401);
    expectErrorBody(unsigned.json, 'err.signature.missing');

    const keyless = await postJson(`${server.url}/social/registry/sync/search`, tokens.keyless, searchEnvelope([searchItem({ ...byUin, query: { type: 'UIN', value: uin } })], { sender_id: 'keyless-partner' }));
    expect(keyless.status).toBe(503);
    expectErrorBody(keyless.json, 'err.service.unavailable');
    expect(keyless.text).not.toContain(uin);
  });
});
