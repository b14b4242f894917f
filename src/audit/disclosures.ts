import { isObject } from '../dci/envelope/normalize.js';
import type { Partner } from '../auth/partners.js';
import { partnerCatalog } from '../dci/search/field-guard.js';
import type { RecordHandling } from '../dci/search/items.js';
import { fieldTreeOf, projectionOf } from '../dci/search/projection.js';
import type { AuditLog, Disclosure } from './audit-log.js';

const ID_LISTS = ['group_identifier', 'member_identifier', 'identifier'];

/**
 * Where records nest the people or household they tell about: an IBR Beneficiary's member or group, a DR
 * DisabledPerson's personal details, a Group's members and head (whose personal data leave with the Group), and the
 * head a Member relates to (whose identifiers leave with the Member).
 */
const NESTED = ['member', 'group', 'personal_details', 'group_head_info', 'member_list', 'related_person', 'related_member'];

/** The REGISTRY_IDs of records as the registry built them (before any projection), each once. */
export function registryIdsOf(records: object[]): string[] {
  const ids = new Set<string>();
  const collect = (record: unknown): void => {
    if (Array.isArray(record)) return record.forEach(collect);
    if (!isObject(record)) return;
    for (const list of ID_LISTS) {
      const entries = record[list];
      if (!Array.isArray(entries)) continue;
      for (const e of entries) if (isObject(e) && e.identifier_type === 'REGISTRY_ID' && typeof e.identifier_value === 'string') ids.add(e.identifier_value);
    }
    for (const key of NESTED) collect(record[key]);
  };
  records.forEach(collect);
  return [...ids];
}

/** The purpose a search item states (DIGEST 3.3: consent or authorize, `purpose.code`). */
export function purposeOf(item: Record<string, unknown>, criteriaMember = 'search_criteria'): string | undefined {
  const criteria = isObject(item[criteriaMember]) ? item[criteriaMember] : {};
  for (const carrier of [criteria.consent, criteria.authorize, item.consent]) {
    if (isObject(carrier) && isObject(carrier.purpose) && typeof carrier.purpose.code === 'string') return carrier.purpose.code;
  }
  return undefined;
}

/** Why an item is refused under a partner's allowed purposes (DIGEST 3.3), or undefined when it may be answered. */
export function purposeRefusal(purposes: readonly string[], purpose: string | undefined): string | undefined {
  if (purpose === undefined) return `this partner must state its purpose (consent or authorize purpose.code: ${purposes.join(', ')})`;
  return purposes.includes(purpose) ? undefined : `purpose ${purpose.slice(0, 100)} is not one this partner may ask under`;
}

/**
 * Collects what a search answer discloses, item by item, and writes it to the audit log before the answer leaves:
 * the partner, its purpose, the transaction, which records (REGISTRY_IDs) and which fields.
 */
export class DisclosureRecorder {
  /** `item`: the request item answered (reference_ids may be empty or repeated: DIGEST 11.4), its purpose the entry's. */
  private readonly seen: { referenceId: string; recordIds: string[]; recordCount: number; item?: Record<string, unknown> }[] = [];

  constructor(
    private readonly audit: AuditLog,
    private readonly context: { partnerId: string; domain: string; action: string; transactionId?: string; messageId?: string; fields?: readonly string[] },
  ) {}

  /**
   * Record handling for answerSearchBatch: the partner's projection and the attributes it may search by (its field
   * allow-list), its allowed purposes (an item stating no purpose, or another one, is refused when the partner has a
   * list: DIGEST 3.3), and this recorder's observation.
   */
  handling(partner: Partner): RecordHandling {
    const purposes = partner.purposes;
    return {
      project: projectionOf(partner),
      catalog: fieldTreeOf(partner) ? (plan) => partnerCatalog(partner, plan.catalog, plan.parts) : undefined,
      refuse: purposes ? (item) => purposeRefusal(purposes, purposeOf(item)) : undefined,
      observe: (referenceId, records, item) => {
        if (records.length > 0) this.seen.push({ referenceId, recordIds: registryIdsOf(records), recordCount: records.length, item });
      },
    };
  }

  /** The audit entries of what was seen, one per answered item, with the purpose its request item stated. */
  entries(): Disclosure[] {
    return this.seen.map((s) => ({
      ...this.context,
      referenceId: s.referenceId,
      recordIds: s.recordIds,
      recordCount: s.recordCount,
      purpose: s.item && purposeOf(s.item),
    }));
  }

  async commit(): Promise<void> {
    await Promise.all(this.entries().map((d) => this.audit.disclosed(d)));
  }
}
