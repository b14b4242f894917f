import type { DciErrorCode, HeaderReasonCode } from '../dci/envelope/codes.js';

/**
 * The one error type. Thrown anywhere, it becomes a DCI error body (DIGEST 8) on DCI routes and an
 * RFC 9457 problem document on the REST API, with this HTTP status.
 */
export class DciError extends Error {
  constructor(
    readonly httpStatus: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 429 | 500 | 501 | 502 | 503 | 504,
    readonly code: DciErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'DciError';
  }
}

/**
 * A header-level rejection of a sync request (DIGEST 8: HTTP 200, response header `status: "rjct"` with the reason):
 * the request was understood but refused as a whole. No code when an upstream registry gave one outside the DCI list.
 */
export class HeaderRejection extends Error {
  constructor(
    readonly reasonCode: HeaderReasonCode | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'HeaderRejection';
  }
}
