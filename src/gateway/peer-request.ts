import { type Dispatcher, request } from 'undici';
import type { PeerAuth } from '../auth/partners.js';
import type { PeerTokens } from '../auth/peer-tokens.js';

/**
 * POSTs a signed DCI message to a peer registry with our bearer token there. A 401 says the peer no longer takes the
 * token we cached (it restarted, or revoked it): the message goes once more with a fresh one, or every request would
 * be refused until the cached token expired.
 */
export async function postWithPeerToken(
  peerTokens: PeerTokens,
  auth: PeerAuth | undefined,
  url: string,
  body: string,
  opts: { timeoutMs: number; dispatcher?: Dispatcher },
): Promise<Dispatcher.ResponseData> {
  const post = async () => {
    const token = await peerTokens.bearer(auth);
    return request(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      dispatcher: opts.dispatcher,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
  };
  const res = await post();
  // A fixed token (no token_url) would be refused again.
  if (res.statusCode !== 401 || !auth || !('tokenUrl' in auth)) return res;
  // Not read: a refusal's body may trickle in for as long as the peer likes (dump waits for up to 128 KB of it).
  // Dropped before its end, the body reports the abort as an error event, which would end the process unheard.
  res.body.on('error', () => undefined).destroy();
  peerTokens.invalidate(auth);
  return post();
}
