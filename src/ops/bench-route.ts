import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Database } from '../db/client.js';
import type { AppEnv } from '../http/context.js';
import type { IdentifierVault } from '../registry/identifiers.js';

/**
 * The ceiling `npm run bench` measures our sync search against: the same indexed UIN lookup as one prepared
 * statement (its blind index computed as a search does), the row returned as JSON, no token, envelope, validation or
 * record mapping. Mounted only when
 * BENCH_ROUTES is set outside production; it discloses a person without authorisation, so never enable it on real data.
 */
export function registerBenchRoute(app: OpenAPIHono<AppEnv>, db: Database, identifiers: IdentifierVault): void {
  const text = `select i.external_id, i.given_name, i.surname, i.sex, i.birth_date, i.marital_status
    from identifiers x join individuals i on i.id = x.individual_id where x.id_type = 'UIN' and x.id_lookup = $1`;
  app.get('/bench/ceiling/uin/:uin', async (c) => {
    const rows = await db.query(text, [identifiers.lookupKey('UIN', c.req.param('uin'))]);
    return c.json(rows[0] ?? null);
  });
}
