import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AuditLog } from '../audit/audit-log.js';
import { adminBodyProblems, adminParamProblems, adminProblems, problem } from '../http/admin-api.js';
import type { AppEnv } from '../http/context.js';
import { DciError } from '../http/errors.js';
import { PartnerEntry, partnerEntryView, partnerFromEntry } from './partners-file.js';
import type { PartnerDirectory, StoredPartner } from './partners.js';

const PartnerView = z
  .object({
    id: z.string(),
    source: z.enum(['file', 'development', 'config', 'api']),
    created_at: z.string(),
    updated_at: z.string(),
    scopes: z.array(z.string()),
    signature: z.enum(['required', 'optional', 'off']),
    signature_format: z.enum(['dci', 'jws-detached']),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
    jwks_uri: z.string().optional(),
    callback_origins: z.array(z.string()).optional(),
    callback_base_url: z.string().optional(),
    callback_private_network: z.boolean(),
    callback_auth: z
      .object({ kind: z.enum(['bearer_token', 'client_credentials']), token_url: z.string().optional(), client_id: z.string().optional(), scope: z.string().optional() })
      .optional()
      .openapi({ description: 'How callbacks authenticate; the token or client secret is never shown' }),
    callback_max_concurrent: z.number().int().optional(),
    fields: z.array(z.string()).optional(),
    purposes: z.array(z.string()).optional(),
    rate_limit: z.object({ per_second: z.number(), burst: z.number().int() }).optional(),
    encrypt_responses: z.boolean(),
  })
  .openapi('Partner');

const IdParam = z.object({ id: z.string().min(1).max(256) });

const view = (s: StoredPartner) => ({ ...partnerEntryView(s.partner), source: s.source, created_at: s.createdAt, updated_at: s.updatedAt });

/**
 * The partners' admin API (admin scope, checked for all of /admin/*): list, read, add or replace, remove. Only
 * partners added here change here; those of PARTNERS_FILE and the development default are managed where they are
 * defined (409). Every change is in the audit log.
 */
export function registerPartnerRoutes(app: OpenAPIHono<AppEnv>, deps: { partners: PartnerDirectory; audit: AuditLog; production: boolean }): void {
  const tags = ['Operations: partners'];
  const security = [{ bearerAuth: [] }];

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/partners',
      tags,
      security,
      summary: 'List the registered partners (no secrets)',
      responses: { 200: { description: 'Every partner', content: { 'application/json': { schema: z.object({ items: z.array(PartnerView) }) } } }, ...adminProblems },
    }),
    async (c) => c.json({ items: (await deps.partners.list()).map(view) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/partners/{id}',
      tags,
      security,
      summary: 'One partner (no secrets)',
      request: { params: IdParam },
      responses: { 200: { description: 'The partner', content: { 'application/json': { schema: PartnerView } } }, ...adminParamProblems, 404: problem('No such partner'), ...adminProblems },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const [stored] = await deps.partners.list(id);
      if (!stored) throw new DciError(404, 'err.request.not_found', `no partner ${id}`);
      return c.json(view(stored), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/admin/partners/{id}',
      tags,
      security,
      summary: 'Add or replace a partner: the body is a PARTNERS_FILE entry (README: Partners); its id, if given, must be the path id',
      request: { params: IdParam, body: { required: true, content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
      responses: {
        200: { description: 'Replaced', content: { 'application/json': { schema: PartnerView } } },
        201: { description: 'Added', content: { 'application/json': { schema: PartnerView } } },
        ...adminBodyProblems,
        400: problem('Not a valid partner'),
        409: problem('The partner is managed by PARTNERS_FILE or the configuration'),
        ...adminProblems,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      if (body.id !== undefined && body.id !== id) throw new DciError(400, 'err.request.bad', `the body's id ${JSON.stringify(body.id)} is not the path id`);
      const parsed = PartnerEntry.safeParse({ ...body, id });
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new DciError(400, 'err.request.bad', `${issue.path.join('.') || 'partner'}: ${issue.message}`);
      }
      if (deps.production && parsed.data.secret !== undefined) throw new DciError(400, 'err.request.bad', 'give secret_hash in production, not secret');
      const actorId = c.get('auth').partnerId;
      const outcome = await deps.partners.put(
        await partnerFromEntry(parsed.data),
        (tx, made) =>
          deps.audit.changedWithin(tx, { actorId, domain: 'admin', action: made === 'created' ? 'partner.create' : 'partner.replace', recordIds: [id] }),
        parsed.data.secret,
      );
      if (outcome === 'conflict') throw new DciError(409, 'err.request.bad', `partner ${id} is managed by PARTNERS_FILE or the configuration, not by this API`);
      c.get('log').info({ partner: id, operator: actorId, outcome }, 'partner saved');
      const [stored] = await deps.partners.list(id);
      return c.json(view(stored), outcome === 'created' ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/admin/partners/{id}',
      tags,
      security,
      summary: 'Remove a partner: its tokens stop working at once',
      request: { params: IdParam },
      responses: {
        204: { description: 'Removed' },
        ...adminParamProblems,
        404: problem('No such partner'),
        409: problem('The partner is managed by PARTNERS_FILE or the configuration'),
        ...adminProblems,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const actorId = c.get('auth').partnerId;
      const outcome = await deps.partners.remove(id, (tx) => deps.audit.changedWithin(tx, { actorId, domain: 'admin', action: 'partner.remove', recordIds: [id] }));
      if (outcome === 'missing') throw new DciError(404, 'err.request.not_found', `no partner ${id}`);
      if (outcome === 'conflict') throw new DciError(409, 'err.request.bad', `partner ${id} is managed by PARTNERS_FILE or the configuration, not by this API`);
      c.get('log').info({ partner: id, operator: actorId }, 'partner removed');
      return c.body(null, 204);
    },
  );
}
