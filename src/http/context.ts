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
    /** Set by the DCI request reader: the registered partner the token belongs to. */
    partner: Partner;
  };
}
