import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSchema, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { startTestServer, type TestServer } from './support/server.js';

/** GET /.well-known/locations.json (DCI locations core API) over HTTP, checked against the areas table. */

let server: TestServer;
let url: string;
beforeAll(async () => {
  server = await startTestServer();
  url = `${server.url}/.well-known/locations.json`;
});
afterAll(() => server?.close());

interface Area {
  code: string;
  name: string;
  level: string;
  parent: string | null;
}

const areasInTable = () =>
  server.db.query<Area>(`select a.code, a.name, a.level, p.code as parent from areas a left join areas p on p.id = a.parent_id order by a.code`);
const newestInTable = async () => new Date((await server.db.query<{ t: string }>('select max(last_updated) as t from areas'))[0].t).toISOString();

async function fetchTree(headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { res, text, tree: res.status === 200 ? JSON.parse(text) : undefined };
}

const asAreas = (tree: any): Area[] =>
  tree.locations.map((p: any) => ({ code: p.identifier[0].identifier, name: p.name, level: p.additional_type, parent: p.contained_in_place }));
const byCode = (a: Area, b: Area) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);

describe('the location tree', () => {
  it('lists every area with its level and parent, each after its parent, without a token', async () => {
    const { res, tree } = await fetchTree();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expectSchema('locations-response.schema.json', tree);
    expect(tree['@type']).toBe('LocationHierarchy');
    expect(tree['@context']).toEqual({ '@context': 'http://spdci.org/', xsd: 'http://www.w3.org/2001/XMLSchema#', schema: 'http://schema.org/' });
    expect(tree.last_updated).toBe(await newestInTable());

    const served = asAreas(tree);
    const stored = await areasInTable();
    expect(stored.length).toBeGreaterThan(10);
    expect([...served].sort(byCode)).toEqual(stored);
    expect(tree.locations[0].identifier).toEqual([{ '@type': 'PropertyValue', name: 'area-code', identifier: served[0].code }]);
    const seen = new Set<string>();
    for (const area of served) {
      if (area.parent !== null) expect(seen.has(area.parent), `${area.code} after its parent ${area.parent}`).toBe(true);
      seen.add(area.code);
    }
    expect(served.filter((a) => a.parent === null).map((a) => a.level)).toEqual(expect.arrayContaining(['region']));
    expect(new Set(served.filter((a) => a.parent === null).map((a) => a.level))).toEqual(new Set(['region']));
  });

  it('names each area by the code the search attributes take', async () => {
    const { tree } = await fetchTree();
    const district = asAreas(tree).find((a) => a.level === 'district')!;
    const token = await server.token();
    const res = await postJson(`${server.url}/social/registry/sync/search`, token, searchEnvelope([
      searchItem({ query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { district: district.code } } } }, pagination: { page_size: 100, page_number: 1 } }),
    ]));
    expect(res.status).toBe(200);
    const item = (res.json as any).message.search_response[0];
    expect(item.status).toBe('succ');
    const [{ n }] = await server.db.query<{ n: number }>('select count(*)::int as n from groups g join areas a on a.id = g.area_id where a.code = $1', [district.code]);
    expect(n).toBeGreaterThan(0);
    expect(item.pagination.total_count).toBe(n);
    for (const group of item.data.reg_records) expect(group.address[0].sub_region_code).toBe(district.code);
  });

  it('is cacheable: 304 for its entity tag, plain or weak or in a list, 200 for another', async () => {
    const { res, text } = await fetchTree();
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{20,}"$/);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const again = await fetchTree({ 'if-none-match': ifNoneMatch });
      expect(again.res.status, ifNoneMatch).toBe(304);
      expect(again.text, ifNoneMatch).toBe('');
      expect(again.res.headers.get('etag')).toBe(etag);
    }
    const other = await fetchTree({ 'if-none-match': '"not-this-one"' });
    expect(other.res.status).toBe(200);
    expect(other.text).toBe(text);
  });

  it('shows an added, a renamed and a removed area at once, under a new entity tag', async () => {
    const before = await fetchTree();
    const region = await server.db.query<{ id: string; code: string; path: string }>(`select id, code, path from areas where level = 'region' order by code limit 1`);
    const { id, code, path } = region[0];
    await new Promise((r) => setTimeout(r, 5));
    await server.db.query(`insert into areas (code, name, level, parent_id, path) values ($1, 'Newtown', 'district', $2, $3)`, [`${code}-NEW`, id, `${path}.${code}-NEW`]);
    const added = await fetchTree();
    expect(added.res.status).toBe(200);
    expect(added.res.headers.get('etag')).not.toBe(before.res.headers.get('etag'));
    expect(asAreas(added.tree)).toContainEqual({ code: `${code}-NEW`, name: 'Newtown', level: 'district', parent: code });
    expect(added.tree.last_updated).toBe(await newestInTable());
    expect(Date.parse(added.tree.last_updated)).toBeGreaterThan(Date.parse(before.tree.last_updated));
    // The old tag no longer matches.
    expect((await fetchTree({ 'if-none-match': before.res.headers.get('etag')! })).res.status).toBe(200);

    // Renamed by hand, without touching last_updated: the database marks the change.
    await server.db.query(`update areas set name = 'Newtown Heights' where code = $1`, [`${code}-NEW`]);
    const renamed = await fetchTree();
    expect(asAreas(renamed.tree)).toContainEqual({ code: `${code}-NEW`, name: 'Newtown Heights', level: 'district', parent: code });
    expect(Date.parse(renamed.tree.last_updated)).toBeGreaterThan(Date.parse(added.tree.last_updated));

    await server.db.query(`delete from areas where code = $1`, [`${code}-NEW`]);
    const removed = await fetchTree();
    expect(asAreas(removed.tree).map((a) => a.code)).not.toContain(`${code}-NEW`);
    expect(asAreas(removed.tree)).toEqual(asAreas(before.tree));
  });

  it('is in the OpenAPI document with its schema', async () => {
    const doc = await (await fetch(`${server.url}/openapi.json`)).json();
    const get = doc.paths['/.well-known/locations.json'].get;
    expect(get.security).toBeUndefined();
    expect(get.responses['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/LocationHierarchy');
    expect(doc.components.schemas.LocationHierarchy.properties.locations.type).toBe('array');
  });
});
