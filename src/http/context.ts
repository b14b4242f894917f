import type { Logger } from 'pino';
import type { Partner } from '../auth/partners.js';
import type { AccessClaims } from '../auth/tokens.js';

/** Per-request values set by the shared middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    /** Set by the bearer check on protected routes. */
    auth: AccessClaims;
    /** Set by the bearer check with `auth`: the token's partner as registered now. */
    partner: Partner;
  };
}
