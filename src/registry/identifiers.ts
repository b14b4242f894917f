import { createHmac } from 'node:crypto';
import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import type { DataKeys } from './data-keys.js';
import { Sealer } from './sealer.js';

/**
 * Every read and lookup of an identifier value goes through this module. Values of restricted types (national
 * identifiers: UIN, BRN, DRN, MRN... as `identifier_types.classification` says) are stored sealed with AES-256-GCM and
 * found through `id_lookup`, a keyed blind index (HMAC-SHA-256 with a key outside the database): a dump holds neither
 * the value nor anything a 10-digit ID space can be brute-forced against. Other types keep the value itself as their
 * lookup key.
 */

export type IdentifierOwner = 'individual' | 'group';

/** Field classes, as OpenSPP v2 classifies fields. */
export const CLASSIFICATIONS = ['public', 'internal', 'confidential', 'restricted'] as const;
export type Classification = (typeof CLASSIFICATIONS)[number];

export interface IdentifierType {
  readonly owner: IdentifierOwner;
  readonly classification: Classification;
}

/** An identifier as the registry's queries return it: the clear value, or for restricted types the sealed one. */
export interface StoredIdentifier {
  type: string;
  value: string | null;
  /** base64 of the sealed value */
  sealed?: string | null;
}

/** Canonical spelling of an identifier type: types are case-insensitive (DIGEST 5). */
export function canonicalIdType(idType: string): string {
  return idType.trim().toUpperCase();
}

/** SQL of one identifier as JSON for the record queries (`x` is the identifiers row). */
export const IDENTIFIER_JSON = `json_build_object('type', x.id_type, 'value', x.id_value, 'sealed', encode(x.id_sealed, 'base64'))`;

export class IdentifierVault {
  /** Seals restricted values, and other restricted data (CRVS event records) under the same key. */
  readonly sealer: Sealer;

  constructor(
    /** The identifier types this registry knows, keyed by canonical code. */
    readonly types: ReadonlyMap<string, IdentifierType>,
    private readonly keys: DataKeys,
  ) {
    this.sealer = new Sealer(keys.sealKey);
  }

  static async load(db: Pick<Database, 'query'>, keys: DataKeys): Promise<IdentifierVault> {
    const fingerprint = createHmac('sha256', keys.indexKey).update('dci-gateway data key check').digest('base64url');
    await db.query('insert into data_key_check (id, fingerprint) values (1, $1) on conflict (id) do nothing', [fingerprint]);
    const [recorded] = await db.query<{ fingerprint: string }>('select fingerprint from data_key_check where id = 1');
    if (recorded.fingerprint !== fingerprint) {
      throw new Error('DATA_KEY is not the key this registry was sealed with: its restricted fields cannot be read or searched with it');
    }
    const rows = await db.query<{ code: string; applies_to: string; classification: Classification }>('select code, applies_to, classification from identifier_types');
    return new IdentifierVault(
      new Map(rows.map((r) => [canonicalIdType(r.code), { owner: r.applies_to === 'group' ? 'group' : 'individual', classification: r.classification }])),
      keys,
    );
  }

  /** The identifier types of people, or of households (for values sent without their type). */
  typesOf(owner: IdentifierOwner): string[] {
    return [...this.types].filter(([, t]) => t.owner === owner).map(([code]) => code);
  }

  isRestricted(idType: string): boolean {
    return this.types.get(canonicalIdType(idType))?.classification === 'restricted';
  }

  /** The `id_lookup` of a value: its blind index for restricted types, the value itself otherwise. */
  lookupKey(idType: string, value: string): string {
    const type = canonicalIdType(idType);
    if (!this.isRestricted(type)) return value;
    return createHmac('sha256', this.keys.indexKey).update(type).update('\0').update(value).digest('base64url');
  }

  /** The type is authenticated data: a sealed value cannot be moved to another type. */
  seal(idType: string, value: string): Buffer {
    return this.sealer.seal(canonicalIdType(idType), value);
  }

  open(idType: string, sealed: Buffer): string {
    return this.sealer.open(canonicalIdType(idType), sealed);
  }

  /** The stored form of a value: (id_value, id_sealed, id_lookup). */
  stored(idType: string, value: string): { value: string | null; sealed: Buffer | null; lookup: string } {
    return this.isRestricted(idType)
      ? { value: null, sealed: this.seal(idType, value), lookup: this.lookupKey(idType, value) }
      : { value, sealed: null, lookup: value };
  }

  /** Identifiers as queries return them (IDENTIFIER_JSON), with sealed values opened. */
  openAll(list: StoredIdentifier[] | null | undefined): { type: string; value: string }[] {
    return (list ?? []).map((x) => ({ type: x.type, value: x.value ?? this.open(x.type, Buffer.from(x.sealed ?? '', 'base64')) }));
  }

  private lookupList(idType: string, values: readonly string[]): SQL {
    return sql.join(values.map((v) => sql`${this.lookupKey(idType, v)}`), sql`, `);
  }

  /**
   * SQL condition "the owner `ownerId` has an identifier of `idType` whose value is one of `values`". `ownerId` is the
   * owner row's id expression (e.g. `i.id`, `g.id`); the subquery uses the (id_type, id_lookup) unique index.
   */
  hasIdentifier(owner: IdentifierOwner, ownerId: SQL, idType: string, values: readonly string[], negate = false): SQL {
    const column = owner === 'individual' ? sql.raw('individual_id') : sql.raw('group_id');
    return sql`${ownerId} ${negate ? sql`not in` : sql`in`} (select x.${column} from identifiers x where x.id_type = ${canonicalIdType(idType)} and x.id_lookup in (${this.lookupList(idType, values)}) and x.${column} is not null)`;
  }

  /** Groups whose active member holds one of these identifiers (a household by a member's UIN). */
  hasMemberWithIdentifier(groupId: SQL, idType: string, values: readonly string[], negate = false): SQL {
    return sql`${groupId} ${negate ? sql`not in` : sql`in`} (select m.group_id from identifiers x join memberships m on m.individual_id = x.individual_id and m.end_date is null where x.id_type = ${canonicalIdType(idType)} and x.id_lookup in (${this.lookupList(idType, values)}))`;
  }

  /** The SQL of an owner's value of a type, to sort on; undefined for restricted types, whose stored form has no order. */
  sortKey(owner: IdentifierOwner, ownerId: SQL, idType: string): SQL | undefined {
    if (this.isRestricted(idType)) return undefined;
    const column = owner === 'individual' ? sql.raw('individual_id') : sql.raw('group_id');
    return sql`(select x.id_value from identifiers x where x.${column} = ${ownerId} and x.id_type = ${canonicalIdType(idType)} limit 1)`;
  }
}

/**
 * Brings stored identifiers in line with their types' classification, in batches: values of restricted types still
 * in clear (rows written before the type was restricted, or by an older version) are sealed, and sealed values of types
 * no longer restricted are opened. Runs at start-up, before the server serves.
 */
export async function reconcileSealedIdentifiers(db: Database, vault: IdentifierVault, batchSize = 2000): Promise<number> {
  const restricted = [...vault.types].filter(([, t]) => t.classification === 'restricted').map(([code]) => code).sort();
  // The batches read the table: skip them when the classification is the one the rows were last brought in line with,
  // and no row is out of line. A process still running with the old classification (several processes, or one not
  // yet restarted) may have written one since: the probe finds it at the next start.
  const [done] = await db.query<{ sealed_types: string | null; out_of_line: boolean }>(
    `select sealed_types, exists (select 1 from identifiers where (id_type = any($1::text[]) and id_value is not null)
       or (not (id_type = any($1::text[])) and id_sealed is not null)) as out_of_line
     from data_key_check where id = 1`,
    [restricted],
  );
  if (done?.sealed_types === restricted.join(',') && !done.out_of_line) return 0;
  let changed = 0;
  for (;;) {
    const rows = await db.query<{ id: number; id_type: string; id_value: string | null; sealed: string | null }>(
      `select id, id_type, id_value, encode(id_sealed, 'base64') as sealed from identifiers
       where (id_type = any($1::text[]) and id_value is not null) or (not (id_type = any($1::text[])) and id_sealed is not null)
       order by id limit ${batchSize}`,
      [restricted],
    );
    if (rows.length === 0) {
      await db.query('update data_key_check set sealed_types = $1 where id = 1', [restricted.join(',')]);
      return changed;
    }
    const next = rows.map((r) => {
      const value = r.id_value ?? vault.open(r.id_type, Buffer.from(r.sealed!, 'base64'));
      const s = vault.stored(r.id_type, value);
      return { id: r.id, value: s.value, sealed: s.sealed ? `\\x${s.sealed.toString('hex')}` : null, lookup: s.lookup };
    });
    await db.query(
      `update identifiers x set id_value = u.value, id_sealed = u.sealed::bytea, id_lookup = u.lookup
       from unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) as u(id, value, sealed, lookup) where x.id = u.id`,
      [next.map((r) => r.id), next.map((r) => r.value), next.map((r) => r.sealed), next.map((r) => r.lookup)],
    );
    changed += rows.length;
  }
}
