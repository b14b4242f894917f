import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../http/context.js';
import { schemaRef } from '../ops/openapi.js';
import { type LocationTree, matchesEtag } from './locations.js';

const PATH = '/.well-known/locations.json';

/**
 * GET /.well-known/locations.json (DCI locations core API): public, as every `.well-known` document (area names and
 * codes are no personal data), and cacheable: five minutes, then revalidated by its entity tag.
 */
export function registerLocationsRoute(app: OpenAPIHono<AppEnv>, tree: LocationTree): void {
  app.get(PATH, async (c) => {
    const { body, etag } = await tree.current();
    const headers = { etag, 'cache-control': 'public, max-age=300' };
    if (matchesEtag(c.req.header('if-none-match'), etag)) return c.body(null, 304, headers);
    return c.body(body, 200, { ...headers, 'content-type': 'application/json' });
  });

  app.openAPIRegistry.registerPath({
    method: 'get',
    path: PATH,
    tags: ['Locations'],
    summary: 'The administrative areas as a location tree (DCI locations core API)',
    description:
      'Every area as a Place: its code (identifier `area-code`, the value the search attributes region, district and location take), ' +
      'name, level (`additional_type`) and the code of the area containing it (`contained_in_place`, null at the top). Each area comes ' +
      'after its parent. No token needed. Send the ETag back in If-None-Match to get 304 while nothing changed.',
    responses: {
      200: { description: 'The location tree', content: { 'application/json': { schema: schemaRef('locations-response.schema.json') } } },
      304: { description: 'Unchanged since the entity tag in If-None-Match' },
    } as never,
  });
}
