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
      parts: {},
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

describe('the items of a batch', () => {
  /** A domain whose item `ref` answers when `gate(ref)` resolves; logs when each item starts and ends. */
  function gatedDomain(gate: (ref: string) => Promise<void>) {
    const log: string[] = [];
    const domain: SearchDomain = {
      plan: (criteria) => {
        const ref = String((criteria as { ref: string }).ref);
        return {
          regType: 'test',
          recordType: 'Thing',
          subject: 'individual',
          catalog,
          parts: {},
          count: async () => {
            log.push(`start ${ref}`);
            await gate(ref);
            log.push(`end ${ref}`);
            if (ref === 'broken') throw new Error('the database went away');
            return 0;
          },
          fetch: async () => [],
        };
      },
    };
    return { domain, log };
  }
  const itemRef = (ref: string) => ({ ...bySex(), reference_id: ref, search_criteria: { ...bySex().search_criteria, ref } });

  it('starts the next item as soon as one is answered: a slow item holds up none of the others', async () => {
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    const refs = Array.from({ length: 16 }, (_, n) => (n === 0 ? 'slow' : `fast-${n}`));
    const { domain, log } = gatedDomain((ref) => (ref === 'slow' ? slow : Promise.resolve()));
    const batch = answerSearchBatch(domain, refs.map(itemRef), limits);
    // The fifteen fast items all finish while the slow one still runs (in groups of eight, items 8-15 would wait for it).
    for (let n = 0; n < 50 && log.filter((l) => l.startsWith('end fast')).length < 15; n++) await new Promise((r) => setTimeout(r, 1));
    expect(log.filter((l) => l.startsWith('end fast'))).toHaveLength(15);
    expect(log).not.toContain('end slow');
    releaseSlow();
    const answers = await batch;
    expect(answers.map((a) => [a.reference_id, a.status])).toEqual(refs.map((r) => [r, 'succ']));
  });

  it('fails the batch when an item fails, once the items running have finished, and starts no more', async () => {
    let releaseRunning!: () => void;
    const running = new Promise<void>((resolve) => (releaseRunning = resolve));
    const refs = ['broken', ...Array.from({ length: 7 }, (_, n) => `running-${n}`), ...Array.from({ length: 8 }, (_, n) => `later-${n}`)];
    const { domain, log } = gatedDomain((ref) => (ref.startsWith('running') ? running : Promise.resolve()));
    let settled = false;
    const batch = answerSearchBatch(domain, refs.map(itemRef), limits).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    releaseRunning();
    await expect(batch).rejects.toThrow('the database went away');
    expect(log.filter((l) => l.startsWith('end running'))).toHaveLength(7);
    expect(log.filter((l) => l.includes('later'))).toEqual([]);
  });
});
