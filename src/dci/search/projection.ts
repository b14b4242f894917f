import type { Partner } from '../../auth/partners.js';
import { isObject } from '../envelope/normalize.js';

export type Tree = Map<string, Tree | true>;

function compile(fields: readonly string[]): Tree {
  const root: Tree = new Map();
  for (const field of fields) {
    let node = root;
    for (const [i, part] of field.split('.').entries()) {
      const existing = node.get(part);
      // Already allowed whole: a deeper path under it adds nothing (and must not go on from this level).
      if (existing === true) break;
      if (i === field.split('.').length - 1) {
        node.set(part, true);
        break;
      }
      const next: Tree = existing ?? new Map();
      node.set(part, next);
      node = next;
    }
  }
  return root;
}

function apply(value: unknown, tree: Tree): unknown {
  if (Array.isArray(value)) return value.map((v) => apply(v, tree));
  if (!isObject(value)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    // JSON-LD markers that say what a record is (@type, @context) are kept; @id names who it is about (an upstream's
    // records may carry an IRI such as urn:uin:...), so it is a field like any other.
    if (key.startsWith('@') && key !== '@id') {
      out[key] = v;
      continue;
    }
    const rule = tree.get(key);
    if (rule === true) out[key] = v;
    else if (rule) {
      const inner = apply(v, rule);
      if (inner !== undefined) out[key] = inner;
    }
  }
  return out;
}

/** Whether the allow-list keeps the whole of the field at `path` (dotted, as in `fields`). */
export function keeps(tree: Tree, path: string): boolean {
  let node: Tree = tree;
  for (const part of path.split('.')) {
    const rule = node.get(part);
    if (rule === true) return true;
    if (!rule) return false;
    node = rule;
  }
  return false;
}

const trees = new WeakMap<Partner, Tree>();

/** A partner's allow-list as a tree of paths, compiled once; undefined when it sees whole records. */
export function fieldTreeOf(partner: Partner): Tree | undefined {
  if (!partner.fields) return undefined;
  let tree = trees.get(partner);
  if (!tree) trees.set(partner, (tree = compile(partner.fields)));
  return tree;
}

const projections = new WeakMap<Partner, (record: object) => object>();

/**
 * A partner's field allow-list (issue 4: `fields`) as a projection of records, compiled once: dotted paths name what
 * it may receive (`group_identifier`, `demographic_info.sex`, `member_list.demographic_info.birth_date`; a path into a
 * list applies to each element); everything else is left out. Undefined: the partner sees whole records.
 */
export function projectionOf(partner: Partner): ((record: object) => object) | undefined {
  const tree = fieldTreeOf(partner);
  if (!tree) return undefined;
  let project = projections.get(partner);
  if (!project) projections.set(partner, (project = (record) => (apply(record, tree) as object | undefined) ?? {}));
  return project;
}
