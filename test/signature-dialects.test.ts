import { execFileSync } from 'node:child_process';
import { randomUUID, sign } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, searchItem } from './support/dci.js';
import { startTestServer, type TestServer } from './support/server.js';
import { clearValue, idColumns } from './support/data-keys.js';

/**
 * Both DCI signature dialects against one server, with the partner side written independently in Python
 * (test/support/dci_interop.py): an OpenSPP-style partner signs `dci` (Ed25519), an OpenG2P-style partner signs
 * detached JWS (RS256). Each signs its request the way its stack does, and verifies our answer the same way.
 */

const INTEROP = fileURLToPath(new URL('./support/dci_interop.py', import.meta.url));
const python = (command: Record<string, unknown>): any => JSON.parse(execFileSync('python3', [INTEROP], { input: JSON.stringify(command) }).toString());

let server: TestServer;
let keys: { ed25519: { pem: string; jwk: any }; rsa: { pem: string; jwk: any } };
let ourJwk: any;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  keys = python({ op: 'keys' });
  server = await startTestServer({}, {
    partners: [
      { id: 'openspp-partner', secret: 'openspp-secret', scopes: ['social:registry.search'], signature: 'required', signatureFormat: 'dci', jwks: { keys: [keys.ed25519.jwk] } },
      { id: 'openg2p-partner', secret: 'openg2p-secret', scopes: ['social:registry.search'], signature: 'required', signatureFormat: 'jws-detached', jwks: { keys: [keys.rsa.jwk] } },
    ],
  });
  tokens.openspp = await server.token({ clientId: 'openspp-partner', secret: 'openspp-secret' });
  tokens.openg2p = await server.token({ clientId: 'openg2p-partner', secret: 'openg2p-secret' });
  ourJwk = ((await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: any[] }).keys[0];
});
afterAll(() => server?.close());

async function aUin(): Promise<string> {
  const [row] = await server.db.query(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' order by x.id limit 1`);
  return clearValue(row);
}

/** A search whose message holds non-ASCII text and a float written as 7.0: the two traps of DIGEST 7.2. */
function envelope(senderId: string, uin: string) {
  return {
    header: { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'search', sender_id: senderId, total_count: 2 },
    message: {
      transaction_id: `txn-José-${randomUUID()}`,
      search_request: [
        searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'réf-1'),
        searchItem({ query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { poverty_score: { $lt: 7.0 } } } } } }, 'réf-2'),
      ],
    },
  };
}

/** The envelope as JSON text with the score a float (7.0), which Python keeps as such when it serialises. */
const asText = (e: object) => JSON.stringify(e).replace('"$lt":7}', '"$lt":7.0}');

const post = (text: string, token: string) => postJson(`${server.url}/social/registry/sync/search`, token, text);

describe('dci dialect (OpenSPP 2 style, Ed25519)', () => {
  it('accepts a request signed by independent code and signs the answer so that the same code verifies it', async () => {
    const { text } = python({ op: 'sign-dci', pem: keys.ed25519.pem, envelope_text: asText(envelope('openspp-partner', await aUin())), sender: 'openspp-partner', kid: 'py-ed-1' });
    expect(text).toContain('7.0');
    expect(text).toContain('\\u00e9');
    const res = await post(text, tokens.openspp);
    expect(res.status).toBe(200);
    expect(res.json.message.search_response.map((r: any) => r.status)).toEqual(['succ', 'succ']);
    const check = python({ op: 'verify-dci', text: res.text, jwk: ourJwk });
    expect(check).toEqual({ valid: true, kidId: `dci-gateway|${ourJwk.kid}|ed25519` });
  });

  it('hashes U+007F as Python does (\\u007f, escaped with the non-ASCII), in what it verifies and what it signs', async () => {
    const e = envelope('openspp-partner', await aUin());
    e.message.transaction_id = `txn-\u007f-${randomUUID()}`;
    const { text } = python({ op: 'sign-dci', pem: keys.ed25519.pem, envelope_text: asText(e), sender: 'openspp-partner', kid: 'py-ed-1' });
    expect(text).toContain('\\u007f');
    const res = await post(text, tokens.openspp);
    expect(res.status, res.text).toBe(200);
    expect(res.json.message.transaction_id).toBe(e.message.transaction_id);
    expect(python({ op: 'verify-dci', text: res.text, jwk: ourJwk })).toMatchObject({ valid: true });
  });

  it('refuses a missing, tampered, expired, foreign or misattributed signature', async () => {
    const uin = await aUin();
    const unsigned = await post(JSON.stringify(envelope('openspp-partner', uin)), tokens.openspp);
    expect(unsigned.status).toBe(401);
    expect(unsigned.json.message.error.code).toBe('err.signature.missing');

    const signed = python({ op: 'sign-dci', pem: keys.ed25519.pem, envelope_text: asText(envelope('openspp-partner', uin)), sender: 'openspp-partner', kid: 'py-ed-1' }).text;
    const tampered = signed.replace(uin, '0000000001');
    expect(tampered).not.toBe(signed);
    const expired = python({ op: 'sign-dci', pem: keys.ed25519.pem, envelope_text: asText(envelope('openspp-partner', uin)), sender: 'openspp-partner', kid: 'py-ed-1', shift: -3600 }).text;
    const unknownKid = python({ op: 'sign-dci', pem: keys.ed25519.pem, envelope_text: asText(envelope('openspp-partner', uin)), sender: 'openspp-partner', kid: 'not-registered' }).text;
    const otherSender = python({ op: 'sign-dci', pem: keys.ed25519.pem, envelope_text: asText(envelope('openspp-partner', uin)), sender: 'openg2p-partner', kid: 'py-ed-1' }).text;
    const wrongKey = python({ op: 'sign-dci', pem: keys.rsa.pem, envelope_text: asText(envelope('openspp-partner', uin)), sender: 'openspp-partner', kid: 'py-ed-1' }).text;
    // A signature by the partner's own key over a signing string without the digest covers no message at all: it
    // must not pass for this one (nor may one without (created) or (expires), whose times would then be anyone's).
    const signedFields = (fields: string[]) => {
      const created = Math.floor(Date.now() / 1000);
      const values: Record<string, string> = { '(created)': String(created), '(expires)': String(created + 300), digest: 'whatever' };
      const signature = sign(null, Buffer.from(fields.map((f) => `${f}: ${values[f]}`).join('\n')), keys.ed25519.pem).toString('base64');
      const e = { ...envelope('openspp-partner', uin), signature: '' };
      e.signature = `namespace="dci", kidId="openspp-partner|py-ed-1|ed25519", algorithm="ed25519", created="${values['(created)']}", expires="${values['(expires)']}", headers="${fields.join(' ')}", signature="${signature}"`;
      return JSON.stringify(e);
    };
    const noDigest = signedFields(['(created)', '(expires)']);
    const noExpiry = signedFields(['(created)', 'digest']);
    for (const [name, text] of Object.entries({ tampered, expired, unknownKid, otherSender, wrongKey, noDigest, noExpiry })) {
      const res = await post(text, tokens.openspp);
      expect(res.status, name).toBe(401);
      expect(res.json.message.error.code, name).toBe('err.signature.invalid');
    }
  });
});

describe('jws-detached dialect (OpenG2P style, RS256)', () => {
  it('accepts a request signed by independent code and answers with a detached JWS the same code verifies', async () => {
    const { text } = python({ op: 'sign-jws', pem: keys.rsa.pem, envelope_text: asText(envelope('openg2p-partner', await aUin())), kid: 'py-rsa-1' });
    const res = await post(text, tokens.openg2p);
    expect(res.status).toBe(200);
    expect(res.json.signature).toMatch(/^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$/);
    const check = python({ op: 'verify-jws', text: res.text, jwk: ourJwk });
    expect(check).toEqual({ valid: true, header: { alg: 'EdDSA', kid: ourJwk.kid } });
  });

  it('refuses alg none, HS256, a tampered payload, an unknown kid and a protected header that is not an object', async () => {
    const uin = await aUin();
    const signed = python({ op: 'sign-jws', pem: keys.rsa.pem, envelope_text: asText(envelope('openg2p-partner', uin)), kid: 'py-rsa-1' }).text;
    const body = JSON.parse(signed);
    const [, , sig] = body.signature.split('.');
    const withHeader = (h: object) => JSON.stringify({ ...body, signature: `${Buffer.from(JSON.stringify(h)).toString('base64url')}..${sig}` });
    const cases = {
      none: withHeader({ alg: 'none', kid: 'py-rsa-1' }),
      hs256: withHeader({ alg: 'HS256', kid: 'py-rsa-1' }),
      tampered: signed.replace(uin, '0000000001'),
      unknownKid: python({ op: 'sign-jws', pem: keys.rsa.pem, envelope_text: asText(envelope('openg2p-partner', uin)), kid: 'nope' }).text,
      nullHeader: JSON.stringify({ ...body, signature: `${Buffer.from('null').toString('base64url')}..${sig}` }),
      arrayHeader: JSON.stringify({ ...body, signature: `${Buffer.from('[{"alg":"RS256","kid":"py-rsa-1"}]').toString('base64url')}..${sig}` }),
    };
    for (const [name, text] of Object.entries(cases)) {
      const res = await post(text, tokens.openg2p);
      expect(res.status, name).toBe(401);
      expect(res.json.message.error.code, name).toBe('err.signature.invalid');
    }
  });

  it('takes the signature from an HTTP Signature header when the body has none (DIGEST 7.1)', async () => {
    const text: string = python({ op: 'sign-jws', pem: keys.rsa.pem, envelope_text: asText(envelope('openg2p-partner', await aUin())), kid: 'py-rsa-1' }).text;
    const { signature } = JSON.parse(text);
    const withoutSignature = text.replace(/, "signature": "[^"]*"/, '');
    expect(withoutSignature).not.toContain('signature');
    const res = await postJson(`${server.url}/social/registry/sync/search`, tokens.openg2p, withoutSignature, { signature });
    expect(res.status).toBe(200);
  });
});
