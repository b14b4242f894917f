import { describe, expect, it } from 'vitest';
import { catalog } from '../query/test-support.js';
import { answerSearchBatch, type PageQuery, type SearchDomain } from './items.js';

/** A domain over `matches` records that logs what the search engine asks of it. */
function fakeDomain(matches: number) {
  const calls: string[] = [];
  const pages: PageQuery[] = [];
  const domain: SearchDomain = {
    plan: () => ({
      regType: 'test',
      recordType: 'Thing',
      subject: 'individual',
      catalog,
      count: async () => {
        calls.push('count');
        return matches;
      },
      fetch: async (page) => {
        calls.push('fetch');
        pages.push(page);
        return Array.from({ length: Math.max(0, Math.min(page.limit, matches - page.offset)) }, (_, n) => ({ n: page.offset + n }));
      },
      findByIdentifier: () => {
        calls.push('direct');
        return Promise.resolve([{ n: 0 }]);
      },
    }),
  };
  return { domain, calls, pages };
}

const limits = { defaultPageSize: 10, maxPageSize: 100, maxResultWindow: 10_000 };
const item = (criteria: Record<string, unknown>) => ({ reference_id: 'r1', timestamp: new Date().toISOString(), search_criteria: criteria });
const bySex = (pagination?: Record<string, number>, sort?: unknown) =>
  item({ query_type: 'expression', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { sex: 'female' } } } }, pagination, sort });

describe('the search engine counts before it fetches', () => {
  it('hands the store the count and the sort keys with the page', async () => {
    const { domain, calls, pages } = fakeDomain(25);
    const [answer] = await answerSearchBatch(domain, [bySex({ page_size: 10, page_number: 3 }, [{ attribute_name: 'poverty_score', sort_order: 'desc' }])], limits);
    expect(calls).toEqual(['count', 'fetch']);
    expect(answer.status).toBe('succ');
    expect(answer.pagination).toEqual({ page_size: 10, page_number: 3, total_count: 25 });
    expect(answer.data?.reg_records).toHaveLength(5);
    expect(pages[0]).toMatchObject({ limit: 10, offset: 20, total: 25 });
    expect(pages[0].sortKeys.map((k) => k.order)).toEqual(['desc']);
  });

  it('fetches nothing when nothing matches, or nothing as far as the page asked for', async () => {
    for (const [matches, page] of [[0, 1], [20, 3], [20, 5]]) {
      const { domain, calls } = fakeDomain(matches);
      const [answer] = await answerSearchBatch(domain, [bySex({ page_size: 10, page_number: page })], limits);
      expect(calls).toEqual(['count']);
      expect(answer.status).toBe('succ');
      expect(answer.pagination?.total_count).toBe(matches);
      expect(answer.data?.reg_records).toEqual([]);
    }
  });

  it('takes an identifier lookup on its first page directly, without counting', async () => {
    const { domain, calls } = fakeDomain(1);
    const [answer] = await answerSearchBatch(domain, [item({ query_type: 'idtype-value', query: { type: 'UIN', value: 'U1' } })], limits);
    expect(calls).toEqual(['direct']);
    expect(answer.pagination?.total_count).toBe(1);
  });
});
