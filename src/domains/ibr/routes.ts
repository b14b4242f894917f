import type { OpenAPIHono } from '@hono/zod-openapi';
import { refuseWhenForwarded } from '../../gateway/local-only.js';
import { requireScope } from '../../auth/bearer.js';
import type { Partner } from '../../auth/partners.js';
import type { Database } from '../../db/client.js';
import { type CheckAnswer, type CheckDeps, type CheckItem, checkSubjects, itemStatus, registerCheckEndpoint } from '../../dci/checks/check-route.js';
import { newCorrelationId, type RequestHeader } from '../../dci/envelope/builder.js';
import { present } from '../../dci/envelope/normalize.js';
import { checkRequestHeader } from '../../dci/envelope/request-header.js';
import { inputValidator } from '../../dci/envelope/schemas.js';
import { QueryRejection } from '../../dci/query/index.js';
import { subjectConditions, type SubjectCondition } from '../../dci/query/subject.js';
import { fieldTreeOf, keeps, projectionOf } from '../../dci/search/projection.js';
import { registerSyncSearch, type SyncSearchDeps } from '../../dci/search/sync-route.js';
import type { AppEnv } from '../../http/context.js';
import { HeaderRejection } from '../../http/errors.js';
import { jsonText } from '../../http/json-body.js';
import { documentDciEndpoint } from '../../ops/openapi.js';
import type { IdentifierVault } from '../../registry/identifiers.js';
import { splitSubject } from '../../registry/subjects.js';
import { type EnrolmentStore, type EnrolmentSummary, type EnrolmentView, enrolmentsOf, type UpdateResult } from './enrolment-store.js';
import { enrolmentEntry } from './search.js';
import { ENROLLED_STATUSES } from './vocabulary.js';

const validateEnrolled = inputValidator('enrolled-request.schema.json');
const validateUpdates = inputValidator('enrollment-updates-request.schema.json');

const PROGRAMME_PATHS = [
  'programme_identifier',
  'programme_identifier.programme.programme_identifier',
  'programme_identifier.program.programme_identifier',
  'programme.programme_identifier',
  'program.programme_identifier',
  'programme_code',
];

const ENROLMENT_STATUS_FIELD = 'programme_identifier.enrolment_status';
const PROGRAMME_FIELD = 'programme_identifier.programme.programme_identifier';

/** The programmes an enrolled check is limited to (one programme condition, eq or in), or undefined for all. */
function programmeFilter(rest: SubjectCondition[]): Set<string> | undefined {
  let filter: Set<string> | undefined;
  for (const c of rest) {
    if (!PROGRAMME_PATHS.includes(c.attribute.toLowerCase())) {
      throw new QueryRejection('rjct.search_criteria.invalid', `${c.attribute.slice(0, 100)} is not a condition of an enrolled check (person or household identifier, programme_identifier)`);
    }
    filter = filter ? new Set(c.values.filter((v) => filter!.has(v))) : new Set(c.values);
  }
  return filter;
}

/**
 * IBR sync/enrolled (DIGEST 3.8, 10.3): for each person or household named, is it enrolled (status Active or
 * Suspended) in any programme, or in the programmes named; one statement resolves every identifier of the batch and
 * another reads every enrolment. A person counts as enrolled through their own enrolments and their household's; a
 * household through its own and its current members'. Someone this registry does not know is not enrolled
 * (`succ`, `no`, with a message saying so). With a response_entity the programmes come back in search_response too.
 */
export function enrolledCheck(db: Database, vault: IdentifierVault) {
  return async (items: CheckItem[], partner: Partner): Promise<CheckAnswer> => {
    const fields = fieldTreeOf(partner);
    const subjects = await checkSubjects(db, vault, items, (criteria) => {
      const { subject, rest } = splitSubject(subjectConditions(criteria), vault);
      const extra = programmeFilter(rest);
      // The answer tells what a Beneficiary record's enrolment status (and, when named, programme) would: a partner
      // whose field list leaves them out may not have it, as it may not search by them (dci/search/field-guard.ts).
      const told = [ENROLMENT_STATUS_FIELD, ...(extra ? [PROGRAMME_FIELD] : [])].filter((f) => fields && !keeps(fields, f));
      if (told.length > 0) throw new QueryRejection('rjct.search_criteria.invalid', `this partner may not receive ${told.join(' or ')}, which it tells`);
      return { subject, extra };
    });
    const found = subjects.map((s) => ('found' in s ? s.found : undefined));
    const details = items.some((item) => present(item.criteria.response_entity));
    const enrolments: EnrolmentSummary[][] = details ? await enrolmentsOf(db, found, true) : await enrolmentsOf(db, found, false);
    const project = projectionOf(partner);
    const enrolled_response: unknown[] = [];
    const search_response: unknown[] = [];
    const disclosed: CheckAnswer['disclosed'] = [];
    items.forEach((item, i) => {
      const s = subjects[i];
      const withDetails = present(item.criteria.response_entity);
      if ('refused' in s) {
        // EnrolledResponse requires enrolled_status on every item (DIGEST 3.8), a refused one too: read status first.
        enrolled_response.push({ ...itemStatus(item.reference_id, s.refused), enrolled_status: 'no' });
        if (withDetails) search_response.push(itemStatus(item.reference_id, s.refused));
        return;
      }
      const list = enrolments[i].filter((e) => !s.extra || s.extra.has(e.code));
      const yes = list.some((e) => (ENROLLED_STATUSES as readonly number[]).includes(e.status));
      const note = 'unknown' in s ? { status_reason_message: `${s.unknown}: not enrolled in any programme it knows` } : {};
      enrolled_response.push({ ...itemStatus(item.reference_id), ...note, enrolled_status: yes ? 'yes' : 'no' });
      if ('found' in s) disclosed.push({ item: i, recordId: s.found.externalId });
      if (withDetails) {
        const records = (list as EnrolmentView[]).map((e) => ({ assistance_unit: String(e.assistance_unit), programme_identifier: enrolmentEntry(e, false) }));
        search_response.push({ ...itemStatus(item.reference_id), data: { version: '1.0.0', reg_records: project ? records.map(project) : records } });
      }
    });
    return { members: search_response.length > 0 ? { enrolled_response, search_response } : { enrolled_response }, disclosed };
  };
}

export interface IbrRouteDeps {
  db: Database;
  vault: IdentifierVault;
  store: EnrolmentStore;
  checks: CheckDeps;
  messageTsWindowSeconds: number;
  /** Registry events were written: subscribers should hear of them now. */
  onChanged: () => void;
}

export function registerIbrRoutes(app: OpenAPIHono<AppEnv>, search: SyncSearchDeps, deps: IbrRouteDeps): void {
  registerSyncSearch(app, search);
  documentDciEndpoint(app, {
    path: '/ibr/registry/sync/search',
    tag: 'Integrated Beneficiary Registry',
    summary: 'Search beneficiaries (sync)',
    description:
      'DCI IBR sync search over Beneficiary records: people enrolled in a programme (directly or through their household) with their ' +
      'enrolments; response_entity/reg_record_type Group for households enrolled as a unit. Attributes: programme_identifier, programme_name, ' +
      'programme_type, benefit_type, enrolment_status (1 Active, 2 Deceased, 3 Graduated, 4 Suspended), assistance_unit, enrolment_date, ' +
      'status_change_date, enrolled_programme_count, cash_programme_count, person_identifier (any type), and every Social Registry person and ' +
      'household attribute (UIN, region, district, poverty_score...). Example: {"$and": [{"programme_identifier": {"$eq": "CCT"}}, ' +
      '{"district": {"$eq": "D01"}}]}; {"cash_programme_count": {"$gt": 1}}. Scope: ibr:registry.search.',
    request: 'sync-search-request.schema.json',
    responses: { 200: { description: 'Search results', schema: 'sync-search-response.schema.json' } },
  });

  registerCheckEndpoint(
    app,
    {
      path: '/ibr/registry/sync/enrolled',
      domain: 'ibr',
      validate: validateEnrolled,
      member: 'enrolled_criteria',
      batchMember: 'enrolled_request',
      emptyMembers: ['enrolled_response'],
      answer: enrolledCheck(deps.db, deps.vault),
      forward: search.forward,
    },
    deps.checks,
  );
  documentDciEndpoint(app, {
    path: '/ibr/registry/sync/enrolled',
    tag: 'Integrated Beneficiary Registry',
    summary: 'Duplicate-enrolment check (sync)',
    description:
      'Is this person (own or household enrolment) or household (own or a member\'s enrolment) enrolled, status Active or Suspended, in any ' +
      'programme or in the programmes named? enrolled_criteria: {query_type, response_entity, query}: idtype-value {type: "UIN", value}, an ' +
      'operator map {"person_identifier": {"eq": "..."}, "programme_identifier.programme.programme_identifier": {"in": ["CCT"]}} or one predicate ' +
      '{attribute_name, operator, attribute_value}. A list of criteria, or enrolled_request [{reference_id, timestamp, enrolled_criteria}], checks ' +
      'up to MAX_BATCH_ITEMS subjects in one message. With response_entity, search_response lists the enrolments. Scope: ibr:registry.search.',
    request: 'enrolled-request.schema.json',
    responses: { 200: { description: 'enrolled_status per item', schema: 'enrolled-response.schema.json' } },
  });

  documentDciEndpoint(app, {
    path: '/ibr/registry/sync/enrollment/updates',
    tag: 'Integrated Beneficiary Registry',
    summary: 'Receive enrolments and status changes from an SP-MIS (sync)',
    description:
      'Beneficiary records under enrolled_updates.beneficiaries (or the sample\'s receipt_information.beneficiaries), header action notify. ' +
      'Each is matched to a registry person (member identifier) or household (group identifier) and applied per programme: new enrolment, ' +
      'status change (kept in the status history), or nothing when already recorded. A programme unknown here is registered to the pushing ' +
      'partner; another partner\'s programme is refused. One result per beneficiary (reference_id, else its position from 1). ' +
      'Scope: ibr:registry.enrollment-updates.',
    request: 'enrollment-updates-request.schema.json',
    responses: { 200: { description: 'One result per beneficiary', schema: 'enrollment-updates-response.schema.json' } },
  });
  app.post('/ibr/registry/sync/enrollment/updates', requireScope(deps.checks.tokens, 'ibr', 'enrollment-updates'), refuseWhenForwarded(search.forward, '/ibr/registry/sync/enrollment/updates'), async (c) => {
    const body = await deps.checks.reader.read(c, { validate: validateUpdates });
    const header = body.header as RequestHeader;
    const message = body.message as { transaction_id: string; enrolled_updates?: { beneficiaries: unknown[] }; receipt_information?: { beneficiaries: unknown[] } };
    const beneficiaries = (message.enrolled_updates ?? message.receipt_information)!.beneficiaries;
    const partner = c.get('partner');
    const correlationId = newCorrelationId();
    let results: UpdateResult[];
    try {
      // The sample sends action `register` on this path (DIGEST 11.4): the path says what it is, so it is read as notify.
      const action = header.action.toLowerCase() === 'register' ? 'notify' : header.action;
      checkRequestHeader({ ...header, action, total_count: header.total_count ?? beneficiaries.length }, {
        action: 'notify',
        itemCount: beneficiaries.length,
        maxBatchItems: deps.checks.maxBatchItems,
        messageTsWindowSeconds: deps.messageTsWindowSeconds,
      });
      results = await deps.store.apply(partner.id, beneficiaries, {
        firstSeen: (tx) => deps.checks.replay.checkFirstSeenWithin(tx, partner.id, header.message_id),
        audit: (tx, changed) => deps.checks.audit.changedWithin(tx, { actorId: partner.id, domain: 'ibr', action: 'enrollment/updates', recordIds: changed }),
      });
    } catch (e) {
      if (!(e instanceof HeaderRejection)) throw e;
      const reply = { action: 'notify', receiverId: partner.id, totalCount: beneficiaries.length };
      return jsonText(c, await deps.checks.envelopes.rejectionTextFor(partner, e, reply, { transaction_id: message.transaction_id, correlation_id: correlationId, enrolled_response: [] }));
    }
    if (results.some((r) => r.subjectId)) deps.onChanged();
    const enrolled_response = results.map((r) => ({
      ...itemStatus(r.reference_id, r.refused === undefined ? undefined : { code: 'rjct.beneficiary.invalid', message: r.refused }),
      ...(r.refused === undefined ? { status_reason_message: r.outcome.slice(0, 999) } : {}),
    }));
    const responseHeader = deps.checks.envelopes.callbackHeader({ action: 'notify', status: 'succ', receiverId: partner.id, totalCount: results.length, completedCount: results.length });
    return jsonText(c, await deps.checks.envelopes.envelopeTextFor(partner, responseHeader, { transaction_id: message.transaction_id, correlation_id: correlationId, enrolled_response }));
  });
}
