import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, verify } from 'node:crypto';

/** The parameters of a DCI `signature` value (DIGEST 7.2), parsed independently of the server's code. */
export function parseDciSignature(value: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of value.replace(/^Signature:\s*/, '').matchAll(/(\w+)="([^"]*)"/g)) params[m[1]] = m[2];
  return params;
}

/**
 * Verifies a DCI signature the way OpenSPP 2's Python verifier does: digest = SHA-256 over Python's
 * `json.dumps({"header":..., "message":...}, sort_keys=True, separators=(",", ":"))` (run in python3, so the
 * canonical form does not come from our own code), then Ed25519 over the signing string.
 */
export function verifyDciSignatureWithPython(envelopeText: string, publicJwk: Record<string, unknown>): { valid: boolean; params: Record<string, string> } {
  const envelope = JSON.parse(envelopeText) as { signature: string; header: unknown; message: unknown };
  const params = parseDciSignature(envelope.signature);
  const canonical = execFileSync(
    'python3',
    ['-c', 'import json,sys; e=json.load(sys.stdin); sys.stdout.write(json.dumps({"header": e["header"], "message": e["message"]}, sort_keys=True, separators=(",", ":")))'],
    { input: envelopeText },
  );
  const digest = createHash('sha256').update(canonical).digest('base64');
  const signingString = `(created): ${params.created}\n(expires): ${params.expires}\ndigest: ${digest}`;
  const key = createPublicKey({ key: publicJwk as never, format: 'jwk' });
  const valid = verify(null, Buffer.from(signingString), key, Buffer.from(params.signature, 'base64'));
  return { valid, params };
}
