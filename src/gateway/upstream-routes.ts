import { randomUUID } from 'node:crypto';
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AuditLog } from '../audit/audit-log.js';
import { adminBodyProblems, adminProblems, problem } from '../http/admin-api.js';
import type { AppEnv } from '../http/context.js';
import { DciError } from '../http/errors.js';
import type { PeerClient } from './peer-client.js';
import type { Upstream } from './upstream.js';

export interface UpstreamLink {
  upstream: Upstream;
  client: PeerClient;
}

const Criteria = z
  .object({
    reg_event_type: z.string().min(1).max(200),
    notify_record_type: z.string().max(200).optional(),
    filter_type: z.string().max(200).optional(),
    filter: z.unknown().optional(),
    frequency: z.unknown().optional(),
  })
  .strict()
  .openapi('UpstreamSubscribeCriteria');

/**
 * Operators subscribe this gateway to an upstream registry's events (admin scope): the upstream answers with
 * on-subscribe at /{domain}/registry/on-subscribe, then sends its notifies to this gateway like any registry partner
 * (for CRVS: /crvs/registry/notify, applied as any vital event). The upstream must know this gateway as a partner
 * whose callback base is this gateway's domain URL, and this gateway must know the upstream as a partner allowed
 * `{domain}:registry.notify`.
 */
export function registerUpstreamRoutes(app: OpenAPIHono<AppEnv>, deps: { links: ReadonlyMap<string, UpstreamLink>; audit: AuditLog }): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/upstreams/{domain}/subscribe',
      tags: ['Operations: gateway'],
      security: [{ bearerAuth: [] }],
      summary: "Subscribe this gateway to an upstream registry's events (its notifies are then applied here)",
      request: { params: z.object({ domain: z.string() }), body: { required: true, content: { 'application/json': { schema: Criteria } } } },
      responses: {
        202: {
          description: 'The upstream acknowledged the subscribe request; its on-subscribe follows',
          content: { 'application/json': { schema: z.object({ outbound_id: z.number().int(), correlation_id: z.string() }) } },
        },
        ...adminBodyProblems,
        404: problem('No upstream is configured for this domain'),
        502: problem('The upstream refused the request or could not be reached'),
        ...adminProblems,
      },
    }),
    async (c) => {
      const { domain } = c.req.valid('param');
      const link = deps.links.get(domain);
      if (!link) throw new DciError(404, 'err.request.not_found', `no upstream registry is configured for ${domain}`);
      const criteria = c.req.valid('json');
      const sent = await link.client.subscribe(link.upstream, domain, {
        transaction_id: randomUUID(),
        subscribe_request: [{ reference_id: '1', timestamp: new Date().toISOString(), subscribe_criteria: criteria }],
      });
      await deps.audit.changed({ actorId: c.get('auth').partnerId, domain, action: 'upstream.subscribe', recordIds: [link.upstream.id] });
      if (sent.state === 'refused') throw new DciError(502, 'err.service.unavailable', `the ${domain} registry ${link.upstream.id} refused: ${sent.error}`.slice(0, 500));
      return c.json({ outbound_id: Number(sent.outboundId), correlation_id: sent.correlationId }, 202);
    },
  );
}
