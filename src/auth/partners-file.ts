import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { hashSecret, isSecretHash, type Partner, type PeerAuth } from './partners.js';
import { normalizeScopes } from './scopes.js';
import { CallbackTargetRejection, checkCallbackUrl } from '../dci/transactions/callback-target.js';

export const Jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

/** The members of a JWK that hold a private or symmetric key (RFC 7518 6.2.2, 6.3.2, 6.4.1). */
const SECRET_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** A JWK without its private or symmetric members. */
const publicJwk = (key: Record<string, unknown>) => Object.fromEntries(Object.entries(key).filter(([m]) => !SECRET_JWK_MEMBERS.includes(m)));

/**
 * A partner's keys: public ones only. A key pair pasted whole (as many JWK tools export it) would sit in the database
 * and come back in every admin answer; the partner's private key is its own.
 */
const PublicJwks = z.object({
  keys: z.array(
    z
      .record(z.string(), z.unknown())
      .refine((key) => !SECRET_JWK_MEMBERS.some((m) => m in key), `a partner's jwks holds its public keys only: leave out ${SECRET_JWK_MEMBERS.join(', ')}`),
  ),
});

/** How we authenticate to another system (a partner's callbacks, an upstream registry): a fixed token or OAuth2 client credentials. */
export const PeerAuthEntry = z.union([
  z.object({ bearer_token: z.string().min(1) }).strict(),
  z.object({ token_url: z.string().url(), client_id: z.string().min(1), client_secret: z.string().min(1), scope: z.string().optional() }).strict(),
]);

/** One partner in PARTNERS_FILE and in the admin API (snake_case, as the README documents it). */
export const PartnerEntry = z
  .object({
    id: z.string().min(1).max(256),
    secret: z.string().min(12).optional(),
    secret_hash: z.string().refine(isSecretHash, 'secret_hash must be scrypt$<salt>$<hash>, a salt of 16 bytes or more and a hash of 32 or more in base64 (npm run partner:hash-secret)').optional(),
    scopes: z.array(z.string().min(1)).min(1),
    signature: z.enum(['required', 'optional', 'off']).default('required'),
    signature_format: z.enum(['dci', 'jws-detached']).default('dci'),
    jwks: PublicJwks.optional(),
    jwks_uri: z.string().url().optional(),
    callback_origins: z.array(z.string().min(1)).optional(),
    callback_base_url: z.string().url().optional(),
    callback_private_network: z.boolean().default(false),
    callback_auth: PeerAuthEntry.optional(),
    callback_max_concurrent: z.number().int().min(1).max(1000).optional(),
    fields: z.array(z.string().min(1)).optional(),
    purposes: z.array(z.string().min(1)).optional(),
    rate_limit: z.object({ per_second: z.number().positive(), burst: z.number().int().min(1) }).strict().optional(),
    encrypt_responses: z.boolean().default(false),
  })
  .strict()
  .refine((p) => (p.secret === undefined) !== (p.secret_hash === undefined), { message: 'give exactly one of secret and secret_hash' })
  .refine((p) => !(p.jwks && p.jwks_uri), { message: 'give jwks or jwks_uri, not both' })
  .refine((p) => p.signature === 'off' || p.jwks || p.jwks_uri, { message: 'a partner whose signatures are checked needs jwks or jwks_uri' })
  .refine((p) => !p.encrypt_responses || p.jwks || p.jwks_uri, { message: 'a partner with encrypt_responses needs jwks or jwks_uri holding a use "enc" key' })
  .superRefine((p, ctx) => {
    const why = callbackSettingsProblem(p);
    if (why) ctx.addIssue({ code: 'custom', message: why, path: [why.startsWith('callback_base_url') ? 'callback_base_url' : 'callback_origins'] });
  });

/**
 * Why a partner's callback settings would leave it without the callbacks they describe: settings given without
 * callback_origins (a partner without origins gets no callbacks, and the rest was dropped unseen), or a base URL that
 * every callback sent to it would be refused at (another origin, or a private address the partner may not use).
 */
function callbackSettingsProblem(p: {
  callback_origins?: string[];
  callback_base_url?: string;
  callback_auth?: unknown;
  callback_max_concurrent?: number;
  callback_private_network: boolean;
}): string | undefined {
  if (!p.callback_origins) {
    const given = Object.entries({
      callback_base_url: p.callback_base_url !== undefined,
      callback_auth: p.callback_auth !== undefined,
      callback_max_concurrent: p.callback_max_concurrent !== undefined,
      callback_private_network: p.callback_private_network,
    }).flatMap(([member, set]) => (set ? [member] : []));
    return given.length > 0 ? `${given.join(', ')} ${given.length === 1 ? 'needs' : 'need'} callback_origins: a partner without them gets no callbacks` : undefined;
  }
  if (p.callback_base_url === undefined) return undefined;
  try {
    checkCallbackUrl(p.callback_base_url, { origins: p.callback_origins, allowPrivateNetwork: p.callback_private_network });
    return undefined;
  } catch (e) {
    if (e instanceof CallbackTargetRejection) return `callback_base_url is not a callback address of this partner: ${e.message}`;
    throw e;
  }
}

const PartnersFile = z.array(PartnerEntry);

/**
 * Reads PARTNERS_FILE: a JSON array of partners, each with its secret when the file gives it in clear. In production a
 * partner's secret must be given hashed (`secret_hash`), never in clear.
 */
export async function loadPartnersFile(path: string, opts: { production: boolean }): Promise<{ partner: Partner; secret?: string }[]> {
  const parsed = PartnersFile.safeParse(readJsonFile('PARTNERS_FILE', path));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`PARTNERS_FILE ${path}: partner ${issue.path.join('.')}: ${issue.message}`);
  }
  const seen = new Set<string>();
  const partners: { partner: Partner; secret?: string }[] = [];
  for (const p of parsed.data) {
    if (seen.has(p.id)) throw new Error(`PARTNERS_FILE ${path}: partner id ${p.id} appears twice`);
    seen.add(p.id);
    if (opts.production && p.secret !== undefined) throw new Error(`PARTNERS_FILE ${path}: partner ${p.id}: use secret_hash in production, not secret`);
    partners.push({ partner: await partnerFromEntry(p), secret: p.secret });
  }
  return partners;
}

/**
 * The JSON of a configuration file (PARTNERS_FILE, UPSTREAMS_FILE), or an error naming the variable, the file and,
 * where V8 tells it, the line and column where the JSON breaks. Not V8's own message, which may quote the text around
 * the break: these files hold secrets, and the error is printed at start.
 */
export function readJsonFile(variable: string, path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${variable} ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${variable} ${path}: not valid JSON${whereJsonBreaks(text, (e as Error).message)}`);
  }
}

/** ` at line L, column C` when V8's message gives the position where `text` breaks, else ''. */
function whereJsonBreaks(text: string, message: string): string {
  const position = /at position (\d+)/.exec(message);
  if (!position) return '';
  const lines = text.slice(0, Number(position[1])).split('\n');
  return ` at line ${lines.length}, column ${lines[lines.length - 1].length + 1}`;
}

export function peerAuthFrom(entry: z.infer<typeof PeerAuthEntry> | undefined): PeerAuth | undefined {
  if (!entry) return undefined;
  return 'bearer_token' in entry
    ? { bearerToken: entry.bearer_token }
    : { tokenUrl: entry.token_url, clientId: entry.client_id, clientSecret: entry.client_secret, scope: entry.scope };
}

/** The partner a PartnerEntry describes; a clear `secret` is hashed here and kept nowhere. */
export async function partnerFromEntry(p: z.infer<typeof PartnerEntry>): Promise<Partner> {
  const auth = peerAuthFrom(p.callback_auth);
  return {
    id: p.id,
    scopes: normalizeScopes(p.scopes),
    secretHash: p.secret_hash ?? (await hashSecret(p.secret!)),
    signature: p.signature,
    signatureFormat: p.signature_format,
    jwks: p.jwks as Partner['jwks'],
    jwksUri: p.jwks_uri,
    callbacks: p.callback_origins
      ? {
          origins: p.callback_origins,
          baseUrl: p.callback_base_url,
          allowPrivateNetwork: p.callback_private_network,
          auth,
          maxConcurrent: p.callback_max_concurrent,
        }
      : undefined,
    fields: p.fields,
    purposes: p.purposes,
    rateLimit: p.rate_limit ? { perSecond: p.rate_limit.per_second, burst: p.rate_limit.burst } : undefined,
    encryptResponses: p.encrypt_responses,
  };
}

/**
 * A partner as the admin API shows it: the PartnerEntry fields without any secret (neither its own secret's hash nor
 * the credentials we call it back with).
 */
export function partnerEntryView(p: Partner) {
  const auth = p.callbacks?.auth;
  return {
    id: p.id,
    scopes: [...p.scopes],
    signature: p.signature,
    signature_format: p.signatureFormat,
    // Keys stored before private ones were refused.
    jwks: p.jwks ? { keys: p.jwks.keys.map(publicJwk) } : undefined,
    jwks_uri: p.jwksUri,
    callback_origins: p.callbacks ? [...p.callbacks.origins] : undefined,
    callback_base_url: p.callbacks?.baseUrl,
    callback_private_network: p.callbacks?.allowPrivateNetwork ?? false,
    callback_auth: auth ? ('bearerToken' in auth ? { kind: 'bearer_token' as const } : { kind: 'client_credentials' as const, token_url: auth.tokenUrl, client_id: auth.clientId, scope: auth.scope }) : undefined,
    callback_max_concurrent: p.callbacks?.maxConcurrent,
    fields: p.fields ? [...p.fields] : undefined,
    purposes: p.purposes ? [...p.purposes] : undefined,
    rate_limit: p.rateLimit ? { per_second: p.rateLimit.perSecond, burst: p.rateLimit.burst } : undefined,
    encrypt_responses: p.encryptResponses ?? false,
  };
}
