import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  date,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { bytea } from '../db/columns.js';

/**
 * Registry core tables. Row ids (`id`) are internal and never leave the server: APIs speak in
 * identifiers (UIN, BRN, HOUSEHOLD_ID...) and in the opaque `external_id` uuids.
 */

/** Administrative areas: region > district > ... (`path` is the dotted chain of codes, for subtree lookups). */
export const areas = pgTable(
  'areas',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    code: text('code').notNull(),
    name: text('name').notNull(),
    level: text('level').notNull(),
    parentId: bigint('parent_id', { mode: 'number' }).references((): any => areas.id),
    path: text('path').notNull(),
    /** Now at insert, and at every update (trigger, migration 0026): the newest is the location tree's `last_updated` (/.well-known/locations.json). */
    lastUpdated: timestamp('last_updated', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('areas_code_uq').on(t.code),
    index('areas_path_idx').on(sql`${t.path} text_pattern_ops`),
    index('areas_lower_name_idx').on(sql`lower(${t.name})`),
  ],
);

export const individuals = pgTable(
  'individuals',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    externalId: uuid('external_id').notNull().default(sql`gen_random_uuid()`),
    givenName: text('given_name'),
    secondName: text('second_name'),
    surname: text('surname'),
    maidenName: text('maiden_name'),
    prefix: text('prefix'),
    suffix: text('suffix'),
    /** male | female | other | unknown */
    sex: text('sex').notNull().default('unknown'),
    birthDate: date('birth_date'),
    deathDate: date('death_date'),
    deathPlace: text('death_place'),
    /** FHIR marital status code: S M W A D L U */
    maritalStatus: text('marital_status'),
    isDisabled: boolean('is_disabled').notNull().default(false),
    /** [{disability_limitation_type, functional_severity}] (Washington Group domains) */
    disabilityInfo: jsonb('disability_info').notNull().default(sql`'[]'::jsonb`),
    educationLevel: text('education_level'),
    occupation: text('occupation'),
    /** DCI EmploymentStatus code 1..8 */
    employmentStatus: smallint('employment_status'),
    incomeLevel: text('income_level'),
    languageCode: text('language_code'),
    phoneNumber: text('phone_number'),
    email: text('email'),
    /** Country-specific extensions, emitted as `additional_attributes`. */
    attributes: jsonb('attributes').notNull().default(sql`'{}'::jsonb`),
    registrationDate: timestamp('registration_date', { withTimezone: true }).notNull().defaultNow(),
    lastUpdated: timestamp('last_updated', { withTimezone: true }).notNull().defaultNow(),
    /**
     * The area of the person's household (active membership), null without one. Derived: triggers of migration 0022
     * keep it in step with memberships and households, so that a person search by region or district reads one index
     * instead of joining every member of the area.
     */
    householdAreaId: bigint('household_area_id', { mode: 'number' }),
  },
  (t) => [
    uniqueIndex('individuals_external_id_uq').on(t.externalId),
    index('individuals_birth_date_idx').on(t.birthDate),
    index('individuals_household_area_birth_idx').on(t.householdAreaId, t.birthDate),
    index('individuals_sex_marital_idx').on(t.sex, t.maritalStatus),
    index('individuals_disabled_idx').on(t.id).where(sql`${t.isDisabled}`),
    index('individuals_deceased_idx').on(t.deathDate).where(sql`${t.deathDate} is not null`),
    index('individuals_lower_surname_idx').on(sql`lower(${t.surname})`),
  ],
);

export const groups = pgTable(
  'groups',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    externalId: uuid('external_id').notNull().default(sql`gen_random_uuid()`),
    /** DCI GroupType code: 1 Household, 2 Family, 3 Group */
    groupType: smallint('group_type').notNull().default(1),
    areaId: bigint('area_id', { mode: 'number' }).references(() => areas.id),
    addressLine: text('address_line'),
    postalCode: text('postal_code'),
    latitude: numeric('latitude', { precision: 9, scale: 6 }),
    longitude: numeric('longitude', { precision: 9, scale: 6 }),
    povertyScore: numeric('poverty_score', { precision: 5, scale: 2 }),
    povertyScoreType: text('poverty_score_type'),
    /** Active members; kept in step with memberships by the registry store. */
    groupSize: integer('group_size').notNull().default(0),
    attributes: jsonb('attributes').notNull().default(sql`'{}'::jsonb`),
    registrationDate: timestamp('registration_date', { withTimezone: true }).notNull().defaultNow(),
    lastUpdated: timestamp('last_updated', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('groups_external_id_uq').on(t.externalId),
    index('groups_poverty_score_idx').on(t.povertyScore, t.id),
    index('groups_group_size_idx').on(t.groupSize, t.id),
    // Area, score and size with the id: the workshop's household search (region, poverty score range, size) and its
    // count read this index alone (no heap visit for 7,651 matches of a region: 25 ms down to 4 ms here).
    index('groups_area_score_size_idx').on(t.areaId, t.povertyScore, t.groupSize, t.id),
  ],
);

export const memberships = pgTable(
  'memberships',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    groupId: bigint('group_id', { mode: 'number' })
      .notNull()
      .references(() => groups.id),
    individualId: bigint('individual_id', { mode: 'number' })
      .notNull()
      .references(() => individuals.id),
    isHead: boolean('is_head').notNull().default(false),
    /** HL7 RoleCode of this member relative to the head: SELF, SPS, CHILD, PRN, GRPRN, SIB, ... */
    relationshipToHead: text('relationship_to_head').notNull(),
    startDate: date('start_date').notNull().default(sql`current_date`),
    endDate: date('end_date'),
  },
  (t) => [
    index('memberships_group_idx').on(t.groupId).where(sql`${t.endDate} is null`),
    // One active household per person: member searches join at most one group.
    uniqueIndex('memberships_active_individual_uq').on(t.individualId).where(sql`${t.endDate} is null`),
    uniqueIndex('memberships_one_head_uq').on(t.groupId).where(sql`${t.isHead} and ${t.endDate} is null`),
  ],
);

/**
 * Identifiers of people and groups: (type, value) is unique, enforced on `id_lookup`. Values of restricted types are
 * held only sealed (`id_sealed`) and found by their blind index; every read and lookup goes through
 * `registry/identifiers.ts`.
 */
export const identifiers = pgTable(
  'identifiers',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    idType: text('id_type').notNull(),
    /** The value in clear, for types that are not restricted. */
    idValue: text('id_value'),
    /** AES-256-GCM sealed value, for restricted types. */
    idSealed: bytea('id_sealed'),
    /** What lookups match: the keyed blind index of a restricted value, the value itself otherwise. */
    idLookup: text('id_lookup').notNull(),
    individualId: bigint('individual_id', { mode: 'number' }).references(() => individuals.id),
    groupId: bigint('group_id', { mode: 'number' }).references(() => groups.id),
  },
  (t) => [
    uniqueIndex('identifiers_type_lookup_uq').on(t.idType, t.idLookup),
    index('identifiers_individual_idx').on(t.individualId).where(sql`${t.individualId} is not null`),
    index('identifiers_group_idx').on(t.groupId).where(sql`${t.groupId} is not null`),
    check('identifiers_one_owner', sql`(${t.individualId} is null) <> (${t.groupId} is null)`),
    check('identifiers_clear_or_sealed', sql`(${t.idValue} is null) <> (${t.idSealed} is null)`),
  ],
);

/** Identifier types this registry knows (configurable vocabulary; DIGEST section 5). */
export const identifierTypes = pgTable('identifier_types', {
  code: text('code').primaryKey(),
  description: text('description').notNull(),
  /** person | group */
  appliesTo: text('applies_to').notNull(),
  /** public | internal | confidential | restricted: restricted values are stored sealed. */
  classification: text('classification').notNull().default('internal'),
}, (t) => [check('identifier_types_classification', sql`${t.classification} in ('public', 'internal', 'confidential', 'restricted')`)]);

/**
 * A fingerprint of the data key (an HMAC of a constant under the blind-index key, which reveals nothing of the key)
 * recorded by the first start: a server given another key refuses to start instead of failing every read.
 */
export const dataKeyCheck = pgTable('data_key_check', {
  id: integer('id').primaryKey(),
  fingerprint: text('fingerprint').notNull(),
  /** The restricted identifier types the stored rows were last brought in line with (comma-separated, sorted). */
  sealedTypes: text('sealed_types'),
});

/**
 * The registry's outbox of changes: every change writes its events in the same transaction, so no change goes
 * unannounced and no event announces a change that did not commit. Subscriptions read it in id order. Events name
 * records by their ids and say what happened, never the personal data itself.
 */
export const registryEvents = pgTable(
  'registry_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    eventId: uuid('event_id').notNull().default(sql`gen_random_uuid()`),
    /** death, live_birth, marriage, divorce, member_added, member_removed, head_changed, marital_status_changed, ... */
    eventType: text('event_type').notNull(),
    individualId: bigint('individual_id', { mode: 'number' }).references(() => individuals.id),
    groupId: bigint('group_id', { mode: 'number' }).references(() => groups.id),
    /** When it happened (the vital event's date), as opposed to when it was recorded. */
    occurredOn: date('occurred_on'),
    recordedAt: timestamp('recorded_at', { withTimezone: true }).notNull().defaultNow(),
    /** Who caused it: `crvs:<partner id>`, `admin:<operator>`, ... */
    source: text('source').notNull(),
    details: jsonb('details').notNull().default(sql`'{}'::jsonb`),
  },
  (t) => [
    uniqueIndex('registry_events_event_id_uq').on(t.eventId),
    index('registry_events_individual_idx').on(t.individualId).where(sql`${t.individualId} is not null`),
    index('registry_events_group_idx').on(t.groupId).where(sql`${t.groupId} is not null`),
  ],
);

/**
 * Family relationships between people, independent of households: `related_individual_id` is the individual's
 * `relationship` (HL7 RoleCode from the individual's side: MTH, FTH or PRN for a parent, SPS for a spouse). Births
 * recorded from a CRVS link the child to each parent named; marriages link the spouses both ways (a divorce unlinks).
 */
export const relationships = pgTable(
  'relationships',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    individualId: bigint('individual_id', { mode: 'number' })
      .notNull()
      .references(() => individuals.id),
    relatedIndividualId: bigint('related_individual_id', { mode: 'number' })
      .notNull()
      .references(() => individuals.id),
    relationship: text('relationship').notNull(),
    source: text('source').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('relationships_pair_uq').on(t.individualId, t.relatedIndividualId, t.relationship),
    index('relationships_related_idx').on(t.relatedIndividualId),
  ],
);
