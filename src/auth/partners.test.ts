import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../test/support/server.js';
import type { Database } from '../db/client.js';
import { hashSecret, type Partner, PartnerDirectory } from './partners.js';

let db: Database;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(() => db?.close());

const partner = async (id: string): Promise<Partner> => ({ id, scopes: ['social:registry.search'], secretHash: await hashSecret(`${id}-secret-123`), signature: 'off', signatureFormat: 'dci' });

describe('the partner directory', () => {
  it('does not bring back a partner removed here while a reload was reading the list', async () => {
    // The directory's database, with the partner list held back while `held` is set: a reload caught mid-way.
    let held: Promise<void> | undefined;
    const slow = new Proxy(db, {
      get(target, name) {
        if (name !== 'query') return Reflect.get(target, name);
        return async (text: string, params?: unknown[]) => {
          const rows = await target.query(text, params);
          if (held && text.includes('select id, source, settings')) await held;
          return rows;
        };
      },
    }) as Database;
    const directory = await PartnerDirectory.open(slow, []);
    try {
      expect(await directory.put(await partner('leaving'), async () => {})).toBe('created');
      // Another process adds a partner: the next reload reads the list again.
      await db.query(`insert into partners (id, source, settings) values ('elsewhere', 'api', $1::jsonb)`, [JSON.stringify({ ...(await partner('elsewhere')), id: undefined })]);
      let release!: () => void;
      held = new Promise<void>((r) => (release = r));
      const reload = directory.refresh();
      await new Promise((r) => setTimeout(r, 50));
      expect(await directory.remove('leaving', async () => {})).toBe('removed');
      held = undefined;
      release();
      await reload;
      expect(directory.get('leaving')).toBeUndefined();
      // The next reload picks up the other process's partner.
      await directory.refresh();
      expect(directory.get('elsewhere')?.id).toBe('elsewhere');
      expect(directory.get('leaving')).toBeUndefined();
    } finally {
      directory.close();
    }
  });
});
