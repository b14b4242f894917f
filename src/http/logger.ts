import pino, { type Logger } from 'pino';

/**
 * JSON logs. They carry request, partner, transaction and message ids; never names, ID numbers or other personal
 * data (no bodies, no query strings of DCI routes).
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'dci-gateway' }, timestamp: pino.stdTimeFunctions.isoTime });
}
