import { sql } from 'drizzle-orm';
import { bigint, bigserial, check, date, index, jsonb, pgTable, smallint, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { groups, individuals } from '../../registry/tables.js';

/**
 * The Integrated Beneficiary Registry: programmes and who is enrolled in them. Enrolments name registry people or
 * households by row id (the pushing SP-MIS names them by identifier); the status history keeps every change.
 */
export const programmes = pgTable(
  'programmes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** The DCI programme_identifier. */
    code: text('code').notNull(),
    name: text('name').notNull(),
    description: text('description'),
    implementingInstitution: text('implementing_institution'),
    institutionType: text('institution_type'),
    programmeType: text('programme_type'),
    /** DCI BenefitType 1..6 */
    benefitType: smallint('benefit_type'),
    benefitFrequency: text('benefit_frequency'),
    /** The partner whose SP-MIS runs it: only it may push its enrolments. Null for this registry's own programmes. */
    ownerId: text('owner_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('programmes_code_uq').on(t.code)],
);

export const enrolments = pgTable(
  'enrolments',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    programmeId: bigint('programme_id', { mode: 'number' })
      .notNull()
      .references(() => programmes.id),
    individualId: bigint('individual_id', { mode: 'number' }).references(() => individuals.id),
    groupId: bigint('group_id', { mode: 'number' }).references(() => groups.id),
    /** DCI AssistanceUnit: 1 Member, 2 Household, 3 Family */
    assistanceUnit: smallint('assistance_unit').notNull(),
    /** DCI enrolment status: 1 Active, 2 Deceased, 3 Graduated, 4 Suspended */
    status: smallint('status').notNull(),
    enrolmentDate: date('enrolment_date').notNull(),
    statusChangedOn: date('status_changed_on'),
    /** [{benefit_type, benefit_date, benefit_value, benefit_quantity, benefit_description}] received, as pushed. */
    benefits: jsonb('benefits').notNull().default(sql`'[]'::jsonb`),
    /** Who pushed it last: a partner id, or `registry` for this server's own programmes. */
    sourceId: text('source_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('enrolments_person_uq').on(t.individualId, t.programmeId).where(sql`${t.individualId} is not null`),
    uniqueIndex('enrolments_group_uq').on(t.groupId, t.programmeId).where(sql`${t.groupId} is not null`),
    index('enrolments_programme_idx').on(t.programmeId, t.status),
    check('enrolments_one_subject', sql`(${t.individualId} is null) <> (${t.groupId} is null)`),
  ],
);

export const enrolmentStatusChanges = pgTable(
  'enrolment_status_changes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    enrolmentId: bigint('enrolment_id', { mode: 'number' })
      .notNull()
      .references(() => enrolments.id),
    status: smallint('status').notNull(),
    changedOn: date('changed_on').notNull(),
    sourceId: text('source_id').notNull(),
    recordedAt: timestamp('recorded_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('enrolment_status_changes_enrolment_idx').on(t.enrolmentId, t.id)],
);
