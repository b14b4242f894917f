import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AccessTokens } from '../../auth/tokens.js';
import type { Database } from '../../db/client.js';
import type { EnvelopeBuilder } from '../../dci/envelope/builder.js';
import { registerSyncSearch, type SyncSearchLimits } from '../../dci/search/sync-route.js';
import type { AppEnv } from '../../http/context.js';
import type { IdentifierOwner } from '../../registry/identifiers.js';
import { dciErrorResponses, schemaRef } from '../../ops/openapi.js';
import { socialCatalogs } from './attributes.js';
import { SocialSearch } from './search.js';

export interface SocialRouteDeps {
  db: Database;
  tokens: AccessTokens;
  envelopes: EnvelopeBuilder;
  identifierTypes: ReadonlyMap<string, IdentifierOwner>;
  limits: SyncSearchLimits;
}

export function registerSocialRoutes(app: OpenAPIHono<AppEnv>, deps: SocialRouteDeps): void {
  const search = new SocialSearch(deps.db, socialCatalogs(deps.identifierTypes));
  registerSyncSearch(app, { domain: 'social', search, tokens: deps.tokens, envelopes: deps.envelopes, limits: deps.limits });

  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/social/registry/sync/search',
    tags: ['Social Registry'],
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
    security: [{ bearerAuth: [] }],
    request: { body: { required: true, content: { 'application/json': { schema: schemaRef('sync-search-request.schema.json') } } } },
    responses: {
      200: {
        description: 'Search results (also when items are rejected or nothing matched; header status rjct for a refused message)',
        content: { 'application/json': { schema: schemaRef('sync-search-response.schema.json') } },
      },
      ...dciErrorResponses,
    },
  });
}
