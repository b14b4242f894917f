import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../http/context.js';
import { DciError } from '../http/errors.js';
import type { UpstreamSearch } from './upstream.js';

/**
 * Gateway mode: an endpoint of a forwarded domain that is not forwarded (only searches are: IBR sync/enrolled and
 * enrollment/updates, DR sync/disabled, get-disability-details and -support, /dr/assessments) is refused with 501.
 * Answered from our own registry, which holds none of that domain's records, the duplicate-enrolment check said "not
 * enrolled" for everyone, and pushed enrolments were kept where no search of the domain reads them.
 */
export function refuseWhenForwarded(forward: UpstreamSearch | undefined, path: string): MiddlewareHandler<AppEnv> {
  return async (_c, next) => {
    if (forward) {
      const { domain, id } = forward.upstream;
      throw new DciError(501, 'err.service.unavailable', `the ${domain} registry is ${id}, to which this gateway forwards searches only: send ${path} to ${id}, or search through /${domain}/registry/sync/search`);
    }
    await next();
  };
}
