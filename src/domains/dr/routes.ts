import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import { refuseWhenForwarded } from '../../gateway/local-only.js';
import { requireScope } from '../../auth/bearer.js';
import type { Partner } from '../../auth/partners.js';
import type { Database } from '../../db/client.js';
import { type CheckAnswer, type CheckDeps, type CheckItem, checkSubjects, itemStatus, registerCheckEndpoint } from '../../dci/checks/check-route.js';
import { inputValidator } from '../../dci/envelope/schemas.js';
import { QueryRejection } from '../../dci/query/index.js';
import { latestEventDate, toDate } from '../../dci/query/values.js';
import { subjectConditions } from '../../dci/query/subject.js';
import { fieldTreeOf, keeps, projectionOf } from '../../dci/search/projection.js';
import { registerSyncSearch, type SyncSearchDeps } from '../../dci/search/sync-route.js';
import type { AppEnv } from '../../http/context.js';
import { DciError } from '../../http/errors.js';
import { dciErrorResponse, dciErrorResponses, documentDciEndpoint } from '../../ops/openapi.js';
import type { IdentifierVault } from '../../registry/identifiers.js';
import { splitSubject } from '../../registry/subjects.js';
import { DISABILITY_DOMAIN, DISABILITY_SEVERITY, type Vocabulary } from '../../registry/vocabularies.js';
import type { AssessmentService } from './assessments.js';
import { type DisabilityRow, disabilityRows, toDisabilityInfo, toDisabilitySupport } from './search.js';
import { AGE_AT_ONSET, DISABILITY_LEVEL, DISABILITY_STATUS, IMPAIRMENT_CAUSE, IMPAIRMENT_LEVEL, IMPAIRMENT_TYPE, SUPPORT_KINDS, SUPPORT_STATUS } from './vocabulary.js';

const validateDisabled = inputValidator('disabled-request.schema.json');

type CheckKind = 'disabled' | 'details' | 'support';

/**
 * The DR checks (DIGEST 3.8): sync/disabled (yes when the person's disability record is Approved), and the person's
 * disability details or support. Each item names one person by identifier; all are resolved in one statement and
 * their records read in another. Someone this registry does not know is not disabled here (`no`, with a message).
 */
function disabilityCheck(db: Database, vault: IdentifierVault, kind: CheckKind) {
  return async (items: CheckItem[], partner: Partner): Promise<CheckAnswer> => {
    const fields = fieldTreeOf(partner);
    const subjects = await checkSubjects(db, vault, items, (criteria) => {
      // disabled_status tells the record's disability_status: a partner whose field list leaves it out may not have
      // it, as it may not search by it (dci/search/field-guard.ts). Details and support are projected instead.
      if (kind === 'disabled' && fields && !keeps(fields, 'disability_status')) {
        throw new QueryRejection('rjct.search_criteria.invalid', 'this partner may not receive disability_status, which it tells');
      }
      const { subject, rest } = splitSubject(subjectConditions(criteria), vault);
      if (subject.owner !== 'individual') throw new QueryRejection('rjct.search_criteria.invalid', 'the Disability Registry answers for people: name one by a person identifier');
      if (rest.length > 0) throw new QueryRejection('rjct.search_criteria.invalid', `${rest[0].attribute.slice(0, 100)} is not a condition of this check (a person identifier)`);
      return { subject, extra: undefined };
    });
    const ids = subjects.flatMap((s) => ('found' in s && 'individualId' in s.found ? [s.found.individualId] : []));
    const records = ids.length > 0 ? await disabilityRows(db, sql`i.id in (${sql.join(ids.map((id) => sql`${id}`), sql`, `)})`) : new Map<string, DisabilityRow>();
    const project = projectionOf(partner);
    const answers: unknown[] = [];
    const disclosed: CheckAnswer['disclosed'] = [];
    items.forEach((item, i) => {
      const s = subjects[i];
      if ('refused' in s) {
        // DisabledResponse requires disabled_status on every item (DIGEST 3.8), a refused one too: read status first.
        answers.push(kind === 'disabled' ? { ...itemStatus(item.reference_id, s.refused), disabled_status: 'no' } : itemStatus(item.reference_id, s.refused));
        return;
      }
      const person = 'found' in s ? s.found : undefined;
      const record = person ? records.get(person.externalId) : undefined;
      const note = 'unknown' in s ? { status_reason_message: s.unknown } : !record ? { status_reason_message: 'this person has no disability record' } : {};
      if (person) disclosed.push({ item: i, recordId: person.externalId });
      if (kind === 'disabled') {
        answers.push({ ...itemStatus(item.reference_id), ...note, disabled_status: record?.status === 0 ? 'yes' : 'no' });
        return;
      }
      const reg_records = !record
        ? []
        : kind === 'details'
          ? [toDisabilityInfo(record)]
          : [[toDisabilitySupport(record)]];
      const projected = !project ? reg_records : kind === 'details' ? reg_records.map((x) => project(x as object)) : reg_records.map((list) => supportAsProjected(project, list as object[]));
      answers.push({ ...itemStatus(item.reference_id), ...note, data: { version: '1.0.0', reg_records: projected }, locale: 'eng' });
    });
    return { members: { [kind === 'disabled' ? 'disabled_response' : 'search_response']: answers }, disclosed };
  };
}

/**
 * A person's support list as a partner with a field allow-list may see it: the partner's fields name support as the
 * DR search's DisabledPerson record holds it (`disability_support.assistive_technology`), so the list is projected
 * there. A partner granted none of it gets an empty list.
 */
function supportAsProjected(project: (record: object) => object, list: object[]): object[] {
  return (project({ disability_support: list }) as { disability_support?: object[] }).disability_support ?? [];
}

/** A vocabulary field of the assessment API: a value or label in any case, stored as the value. */
function vocabField<V extends string | number>(vocab: Vocabulary<V>) {
  return z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const out = vocab.normalize(v);
      if (out === undefined) {
        ctx.addIssue({ code: 'custom', message: `must be one of ${vocab.describe()}` });
        return z.NEVER;
      }
      return out;
    })
    .openapi({ description: `${vocab.name}: ${vocab.describe()} (value or label; components.schemas.${schemaName(vocab)})` });
}

const schemaName = (vocab: { name: string }) => vocab.name.split('_').map((w) => w[0].toUpperCase() + w.slice(1)).join('');
// ISO 8601 has a year 0; toDate, like PostgreSQL's dates, begins at year 1.
const isoDate = z.iso.date().refine((d) => toDate(d) !== undefined, { message: 'year 0000 is not a date' });

const SupportEntry = z.object({
  type: z.string().min(1).max(200),
  frequency: z.string().max(100).optional(),
  support_status: vocabField(SUPPORT_STATUS),
  since: isoDate.optional(),
  description: z.string().max(400).optional(),
});

const AssessmentBody = z
  .object({
    // Trimmed as the DCI checks trim what they look up (query/subject.ts): the same value finds the same person.
    person: z.object({ identifier_type: z.string().trim().min(1).max(40), identifier_value: z.string().trim().min(1).max(256) }),
    disability_status: vocabField(DISABILITY_STATUS),
    disability_level: vocabField(DISABILITY_LEVEL).optional(),
    assessment_date: isoDate,
    assessor: z.string().min(1).max(200),
    valid_until: isoDate.optional(),
    functional_limitations: z
      .array(
        z.object({
          disability_limitation_type: vocabField(DISABILITY_DOMAIN),
          functional_severity: vocabField(DISABILITY_SEVERITY),
        }),
      )
      .max(20)
      .default([]),
    disability_details: z
      .array(
        z.object({
          impairment_type: vocabField(IMPAIRMENT_TYPE),
          impairment_level: vocabField(IMPAIRMENT_LEVEL).optional(),
          impairment_cause: vocabField(IMPAIRMENT_CAUSE).optional(),
          age_on_set: vocabField(AGE_AT_ONSET).optional(),
        }),
      )
      .max(20)
      .default([]),
    disability_support: z.object(Object.fromEntries(SUPPORT_KINDS.map((k) => [k, z.array(SupportEntry).max(50).optional()]))).default({}),
    transport_requirement: z.string().max(200).optional(),
    housing_type: z.string().max(200).optional(),
  })
  .refine((a) => !a.valid_until || a.valid_until >= a.assessment_date, { message: 'valid_until is before assessment_date', path: ['valid_until'] })
  // A future date would also outrank every real assessment that follows it (an older one is refused).
  .refine((a) => a.assessment_date <= latestEventDate(), { message: 'assessment_date is in the future', path: ['assessment_date'] })
  .openapi('DisabilityAssessment');

/** The code lists of the IBR and DR, published as OpenAPI components (DIGEST 5: values, labels accepted on input). */
export function registerVocabularies(app: OpenAPIHono<AppEnv>, vocabs: Vocabulary<string | number>[]): void {
  for (const v of vocabs) {
    app.openAPIRegistry.registerComponent('schemas', schemaName(v), {
      type: 'string',
      enum: v.entries.map((e) => String(e.value)),
      description: `${v.name}: ${v.describe()}. Labels are accepted on input, any case.`,
    } as never);
  }
}

export interface DrRouteDeps {
  db: Database;
  vault: IdentifierVault;
  assessments: AssessmentService;
  checks: CheckDeps;
  onChanged: () => void;
  /** Reads and checks a JSON body (size, storable text): run once the caller is known to be allowed. */
  jsonBodies: MiddlewareHandler;
}

export function registerDrRoutes(app: OpenAPIHono<AppEnv>, search: SyncSearchDeps, deps: DrRouteDeps): void {
  registerSyncSearch(app, search);
  documentDciEndpoint(app, {
    path: '/dr/registry/sync/search',
    tag: 'Disability Registry',
    summary: 'Search disabled persons (sync)',
    description:
      'DCI DR sync search over DisabledPerson records (personal details, disability status and level, impairments, support, programmes). ' +
      'Attributes: disability_status (0 Approved, 1 Pending, 2 Expired), disability_status_level, impairment_type, impairment_level, ' +
      'impairment_cause, age_on_set, assessment_date, disability_limitation_type, functional_severity, has_human_assistance, ' +
      'has_assistive_technology, has_housing_support, has_medical_care, has_animal_assistance, person_identifier, and every Social Registry ' +
      'person and household attribute. Example (DR sample 1): {"$and": [{"disability_status": {"$eq": "Approved"}}, ' +
      '{"disability_details.impairment_type": {"$eq": "Mobility"}}]}. Scope: dr:registry.search.',
    request: 'sync-search-request.schema.json',
    responses: { 200: { description: 'Search results', schema: 'sync-search-response.schema.json' } },
  });

  const checks: { kind: CheckKind; path: string; summary: string; response: string; description: string }[] = [
    { kind: 'disabled', path: '/dr/registry/sync/disabled', summary: 'Is this person disabled? (sync)', response: 'disabled-response.schema.json', description: 'disabled_status yes when the person\'s disability record is Approved and not past its valid_until.' },
    { kind: 'details', path: '/dr/registry/sync/get-disability-details', summary: 'A person\'s disability details (sync)', response: 'disability-details-response.schema.json', description: 'The disability record: status, level, impairments, functional limitations, assessment date and assessor.' },
    { kind: 'support', path: '/dr/registry/sync/get-disability-support', summary: 'A person\'s disability support (sync)', response: 'disability-support-response.schema.json', description: 'The support needed or received: human assistance, assistive technology, housing, medical care, animal assistance.' },
  ];
  for (const check of checks) {
    registerCheckEndpoint(
      app,
      {
        path: check.path,
        domain: 'dr',
        validate: validateDisabled,
        member: 'disabled_criteria',
        batchMember: 'disabled_request',
        emptyMembers: [check.kind === 'disabled' ? 'disabled_response' : 'search_response'],
        answer: disabilityCheck(deps.db, deps.vault, check.kind),
        forward: search.forward,
      },
      deps.checks,
    );
    documentDciEndpoint(app, {
      path: check.path,
      tag: 'Disability Registry',
      summary: check.summary,
      description:
        `${check.description} disabled_criteria: {query_type, query} naming one person: idtype-value {type: "UIN", value} or an operator map ` +
        '{"personal_details.member_identifier": {"eq": "..."}}; a list of criteria or disabled_request [{reference_id, timestamp, disabled_criteria}] ' +
        'checks several people. Scope: dr:registry.search.',
      request: 'disabled-request.schema.json',
      responses: { 200: { description: 'One answer per item', schema: check.response } },
    });
  }

  app.use('/dr/assessments', requireScope(deps.checks.tokens, 'dr', 'assess'));
  app.use('/dr/assessments', refuseWhenForwarded(search.forward, '/dr/assessments'));
  app.use('/dr/assessments', deps.jsonBodies);
  app.openapi(
    createRoute({
      method: 'post',
      path: '/dr/assessments',
      tags: ['Disability Registry'],
      security: [{ bearerAuth: [] }],
      summary: 'Record a disability assessment',
      description:
        'An assessor\'s system records a person\'s assessment: it becomes their disability record (an older assessment than the recorded one ' +
        'is refused) and sets their functional limitations and is_disabled in the registry. Subscribers to DisabledPerson or ' +
        'NewDisabledNewborn events are notified. Scope: dr:registry.assess.',
      request: { body: { required: true, content: { 'application/json': { schema: AssessmentBody } } } },
      responses: {
        200: { description: 'Recorded: replaced the person\'s disability record', content: { 'application/json': { schema: z.object({ person: z.string(), created: z.boolean() }) } } },
        201: { description: 'Recorded: the person\'s first disability record', content: { 'application/json': { schema: z.object({ person: z.string(), created: z.boolean() }) } } },
        400: dciErrorResponse('Invalid assessment (a value outside its vocabulary, a missing field), U+0000, a lone surrogate or nesting deeper than 64 levels (`err.request.bad`)'),
        401: dciErrorResponses[401],
        403: dciErrorResponse('The token lacks dr:registry.assess (`err.request.forbidden`)'),
        404: dciErrorResponse('No person with that identifier (`err.request.not_found`)'),
        409: dciErrorResponse('A more recent assessment is recorded (`err.request.bad`)'),
        413: dciErrorResponses[413],
        415: dciErrorResponses[415],
        500: dciErrorResponses[500],
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const actor = c.get('auth').partnerId;
      const outcome = await deps.assessments.record(body as never, actor, (tx, person) =>
        deps.checks.audit.changedWithin(tx, { actorId: actor, domain: 'dr', action: 'assessment', recordIds: [person] }),
      );
      if ('unknownPerson' in outcome) throw new DciError(404, 'err.request.not_found', outcome.unknownPerson);
      if ('stale' in outcome) throw new DciError(409, 'err.request.bad', outcome.stale);
      deps.onChanged();
      return c.json({ person: outcome.recorded.externalId, created: outcome.recorded.created }, outcome.recorded.created ? 201 : 200);
    },
  );
}
