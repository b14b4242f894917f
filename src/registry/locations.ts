import { createHash } from 'node:crypto';
import type { Database } from '../db/client.js';

/** The location tree as served: its JSON text and that text's entity tag. */
export interface LocationDocument {
  body: string;
  etag: string;
}

/**
 * What identifies a state of the areas table (any insert adds a row or a newer last_updated, a delete removes one),
 * and when it last changed: the tree's `last_updated`.
 */
const VERSION = `select count(*)::int as n, (extract(epoch from max(last_updated)) * 1000000)::bigint::text as newest_us, max(last_updated) as newest from areas`;

/*
 * Tree order: an area's path extends its parent's, so sorting by path (bytewise, whatever the database's collation
 * does with the dots) puts every area after the one that contains it.
 */
const PLACES = `select a.code, a.name, a.level, p.code as parent_code
  from areas a left join areas p on p.id = a.parent_id
  order by a.path collate "C", a.id`;

interface PlaceRow {
  code: string;
  name: string;
  level: string;
  parent_code: string | null;
}

/**
 * The registry's administrative areas as the DCI locations core API's LocationHierarchy (locations_core_api_v1.0.0,
 * DIGEST 9), for partners that map their places to ours: an area's code is what the search attributes `region`,
 * `district` and `location` take.
 *
 * The document is built once per state of the areas table and kept: the endpoint is public, and a country's tree (tens
 * of thousands of areas) is megabytes of JSON. Each request costs one count over the table to learn whether it changed.
 */
export class LocationTree {
  private cached?: { version: string; document: Promise<LocationDocument> };

  constructor(private readonly db: Pick<Database, 'query'>) {}

  async current(): Promise<LocationDocument> {
    const [v] = await this.db.query<{ n: number; newest_us: string | null; newest: unknown }>(VERSION);
    const version = `${v.n}/${v.newest_us}`;
    if (this.cached?.version !== version) {
      // Concurrent requests for one state share one build; a failed build is not kept. A change committed between the
      // two statements is in the document under the older version, which the next request finds stale.
      const document = this.build(v.newest);
      this.cached = { version, document };
      document.catch(() => {
        if (this.cached?.document === document) this.cached = undefined;
      });
    }
    return this.cached.document;
  }

  private async build(newest: unknown): Promise<LocationDocument> {
    const rows = await this.db.query<PlaceRow>(PLACES);
    const tree = {
      '@context': { '@context': 'http://spdci.org/', xsd: 'http://www.w3.org/2001/XMLSchema#', schema: 'http://schema.org/' },
      '@type': 'LocationHierarchy',
      last_updated: newest ? new Date(newest as string).toISOString() : undefined,
      // The published file requires `id` and `containedInPlace`, which it does not define (DIGEST 9): we emit the
      // fields it defines, `identifier` and `contained_in_place`.
      locations: rows.map((r) => ({
        '@type': 'Place',
        identifier: [{ '@type': 'PropertyValue', name: 'area-code', identifier: r.code }],
        name: r.name,
        additional_type: r.level,
        contained_in_place: r.parent_code,
      })),
    };
    const body = JSON.stringify(tree);
    return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
  }
}

/** Whether an If-None-Match header names this entity tag (weak comparison, RFC 9110 13.1.2: W/ is ignored). */
export function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
