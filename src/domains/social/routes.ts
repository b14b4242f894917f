import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AccessTokens } from '../../auth/tokens.js';
import type { EnvelopeBuilder } from '../../dci/envelope/builder.js';
import { registerSyncSearch, type SyncSearchLimits } from '../../dci/search/sync-route.js';
import type { AppEnv } from '../../http/context.js';
import { documentDciEndpoint } from '../../ops/openapi.js';
import type { SearchDomain } from '../../dci/search/items.js';
import type { DciRequestReader } from '../../dci/envelope/read-request.js';
import type { ReplayGuard } from '../../dci/transactions/replay-guard.js';
import type { AuditLog } from '../../audit/audit-log.js';
import type { UpstreamSearch } from '../../gateway/upstream.js';

export interface SocialRouteDeps {
  search: SearchDomain;
  forward?: UpstreamSearch;
  tokens: AccessTokens;
  envelopes: EnvelopeBuilder;
  limits: SyncSearchLimits;
  reader: DciRequestReader;
  replay: ReplayGuard;
  audit: AuditLog;
}

export function registerSocialRoutes(app: OpenAPIHono<AppEnv>, deps: SocialRouteDeps): void {
  registerSyncSearch(app, { domain: 'social', search: deps.search, forward: deps.forward, tokens: deps.tokens, envelopes: deps.envelopes, limits: deps.limits, reader: deps.reader, replay: deps.replay, audit: deps.audit });

  documentDciEndpoint(app, {
    path: '/social/registry/sync/search',
    tag: 'Social Registry',
    summary: 'Search households and people (sync)',
    description:
      'DCI SR sync search. A batch of search requests, each answered with its own status. `query_type`: ' +
      '`idtype-value` ({type: "UIN", value}), `expression` (NoSql operator map: $and $or $not $eq $ne $lt $lte $gt $gte $in $nin), ' +
      '`predicate` (list of {seq_num, expression1, condition, expression2}). `response_entity` Group (households with head and members), ' +
      'Member or Person. Group attributes: poverty_score, group_size, group_type, region, district, location, HOUSEHOLD_ID, any member ' +
      'identifier (UIN...), member_list.<person attribute>, group_head_info.<person attribute>. Person attributes: sex, birth_date, age, ' +
      'marital_status, is_disabled, is_deceased, death_date, given_name, surname, education_level, occupation, employment_status, ' +
      'relationship_to_head, is_head, any identifier type, and their household\'s attributes. Item reason codes: rjct.search_criteria.invalid, ' +
      'rjct.sort.invalid, rjct.pagination.invalid, rjct.timestamp.invalid, rjct.reference_id.duplicate. Scope: social:registry.search.',
    request: 'sync-search-request.schema.json',
    responses: {
      200: { description: 'Search results (also when items are rejected or nothing matched; header status rjct for a refused message)', schema: 'sync-search-response.schema.json' },
    },
  });
}
