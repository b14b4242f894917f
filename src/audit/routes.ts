import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { adminParamProblems, adminProblems, PageQuery } from '../http/admin-api.js';
import type { AppEnv } from '../http/context.js';
import type { AuditLog } from './audit-log.js';

const Entry = z
  .object({
    id: z.number().int(),
    at: z.string(),
    partner_id: z.string(),
    event: z.string(),
    domain: z.string(),
    action: z.string(),
    purpose: z.string().nullable(),
    transaction_id: z.string().nullable(),
    message_id: z.string().nullable(),
    reference_id: z.string().nullable(),
    record_count: z.number().int(),
    record_ids: z.array(z.string()),
    fields: z.array(z.string()).nullable(),
    prev_hash: z.string(),
    hash: z.string(),
  })
  .openapi('AuditEntry');

/** GET /admin/audit: the audit log, newest first (admin scope; the /admin/* bearer check is registered once). */
export function registerAuditRoutes(app: OpenAPIHono<AppEnv>, deps: { audit: AuditLog }): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/audit',
      tags: ['Operations: audit'],
      security: [{ bearerAuth: [] }],
      summary: 'The audit log, newest first: disclosures of personal data (who received which records by REGISTRY_ID, which fields, why) and changes (who changed what)',
      request: {
        query: z
          .object({
            partner_id: z.string().optional(),
            ...PageQuery,
          })
          .strict(),
      },
      responses: { 200: { description: 'A page of entries; pass `before` = the last id for the next page', content: { 'application/json': { schema: z.object({ items: z.array(Entry) }) } } }, ...adminParamProblems, ...adminProblems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await deps.audit.list({ partnerId: q.partner_id, beforeId: q.before, limit: q.limit });
      return c.json({ items: rows.map((r) => ({ ...r, id: Number(r.id), at: new Date(r.at).toISOString() })) }, 200);
    },
  );
}
