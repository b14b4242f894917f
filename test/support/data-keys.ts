import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataKeysFrom } from '../../src/registry/data-keys.js';
import { IdentifierVault } from '../../src/registry/identifiers.js';
import { IDENTIFIER_TYPES } from '../../src/registry/vocabularies.js';

const TEST_MASTER_KEY = Buffer.alloc(32, 7);

/** The data key of the test registry: the template is sealed with it, and every test server opens it with it. */
export const TEST_DATA_KEYS = dataKeysFrom(TEST_MASTER_KEY);

/** The test data key as a DATA_KEY file under `dir`, for servers started as child processes. */
export function testDataKeyFile(dir: string): string {
  const file = join(dir, 'test-data-key');
  writeFileSync(file, TEST_MASTER_KEY.toString('base64'), { mode: 0o600 });
  return file;
}

/** A vault over the default identifier types, for tests without a database. */
export const testVault = (keys = TEST_DATA_KEYS) =>
  new IdentifierVault(new Map(IDENTIFIER_TYPES.map((t) => [t.code, { owner: t.appliesTo === 'group' ? 'group' : 'individual', classification: t.classification }] as const)), keys);

/** SQL columns of the identifiers row aliased `x`, named `<as>_type`, `<as>_value` and `<as>_sealed`, for `clearValue`. */
export const idColumns = (x = 'x', as = x) => `${x}.id_type as ${as}_type, ${x}.id_value as ${as}_value, encode(${x}.id_sealed, 'base64') as ${as}_sealed`;

/** The identifier value of a row selected with `idColumns(..., as)`: in clear, or opened with the test data key. */
export function clearValue(row: Record<string, unknown>, as = 'x'): string {
  const [{ value }] = testVault().openAll([{ type: row[`${as}_type`] as string, value: row[`${as}_value`] as string | null, sealed: row[`${as}_sealed`] as string | null }]);
  return value;
}
