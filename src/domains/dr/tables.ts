import { sql } from 'drizzle-orm';
import { bigint, bigserial, date, index, jsonb, pgTable, smallint, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { individuals } from '../../registry/tables.js';

/**
 * The Disability Registry: a person's current disability record, from their latest assessment. The functional
 * limitations (Washington Group) live on the person (`individuals.disability_info`, `is_disabled`), which an assessment
 * updates too, so the Social Registry and the DR never disagree.
 */
export const disabilityRecords = pgTable(
  'disability_records',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    individualId: bigint('individual_id', { mode: 'number' })
      .notNull()
      .references(() => individuals.id),
    /** DCI disability status: 0 Approved, 1 Pending, 2 Expired */
    status: smallint('status').notNull(),
    /** mild | moderate | severe | complete (ICF generic qualifier) */
    level: text('level'),
    /** [{impairment_type, impairment_level, impairment_cause, age_on_set}] in vocabulary codes */
    impairments: jsonb('impairments').notNull().default(sql`'[]'::jsonb`),
    /** {human_assistance: [...], assistive_technology: [...], housing_support: [...], medical_care: [...], animal_assistance: [...]} */
    support: jsonb('support').notNull().default(sql`'{}'::jsonb`),
    transportRequirement: text('transport_requirement'),
    housingType: text('housing_type'),
    assessedOn: date('assessed_on').notNull(),
    assessor: text('assessor').notNull(),
    validUntil: date('valid_until'),
    registrationDate: timestamp('registration_date', { withTimezone: true }).notNull().defaultNow(),
    lastUpdated: timestamp('last_updated', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('disability_records_individual_uq').on(t.individualId),
    index('disability_records_status_level_idx').on(t.status, t.level),
    index('disability_records_impairments_idx').using('gin', sql`${t.impairments} jsonb_path_ops`),
  ],
);
