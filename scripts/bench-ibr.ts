/**
 * The IBR part of `npm run bench`: the duplicate-enrolment check (`sync/enrolled`) for a batch of 100 people, over a
 * registry with at least 1,000,000 enrolments, at several connection counts.
 */
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import type { Database } from '../src/db/client.js';

export interface EnrolledFigure {
  connections: number;
  rps: number;
  checksPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * Tops the demo enrolments up to `target` with bench programmes, each enrolling a quarter of the people (a person is
 * in two of them on average, plus the demo programmes), in one statement; returns the enrolments there are then.
 */
export async function addBenchEnrolments(db: Database, target: number): Promise<number> {
  const [{ people }] = await db.query<{ people: number }>('select count(*)::int as people from individuals');
  const [{ existing }] = await db.query<{ existing: number }>('select count(*)::int as existing from enrolments');
  const programmes = Math.max(0, Math.ceil(((target - existing) * 4) / Math.max(people, 1)));
  await db.query(
    `insert into programmes (code, name, benefit_type, benefit_frequency, owner_id)
     select 'BENCH-' || lpad(k::text, 2, '0'), 'Bench programme ' || k, 1 + k % 6, 'monthly', 'bench' from generate_series(1, $1::int) k
     on conflict do nothing`,
    [programmes],
  );
  await db.query(
    `insert into enrolments (programme_id, individual_id, assistance_unit, status, enrolment_date, source_id)
     select p.id, i.id, 1, case when i.id % 17 = 0 then 4 when i.id % 23 = 0 then 3 else 1 end, date '2024-01-01' + (i.id % 700)::int, 'bench'
     from programmes p join individuals i on (i.id + p.id) % 4 = 0
     where p.code like 'BENCH-%' on conflict do nothing`,
  );
  await db.query('vacuum (analyze) enrolments');
  const [{ total }] = await db.query<{ total: number }>('select count(*)::int as total from enrolments');
  return total;
}

function enrolledBody(uins: string[]): string {
  return JSON.stringify({
    header: { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'search', sender_id: 'demo-spmis', total_count: uins.length },
    message: { transaction_id: randomUUID(), enrolled_criteria: uins.map((value) => ({ query_type: 'idtype-value', query: { type: 'UIN', value } })) },
  });
}

export async function benchEnrolled(opts: { serverUrl: string; token: string; uins: string[]; connectionCounts: number[]; duration: number; batch: number }): Promise<EnrolledFigure[]> {
  const figures: EnrolledFigure[] = [];
  const batchOf = () => {
    const start = Math.floor(Math.random() * (opts.uins.length - opts.batch));
    return opts.uins.slice(start, start + opts.batch);
  };
  // Warm-up, not reported: the first requests compile, plan and read the indexes in.
  const phases: { connections: number; phase: 'warm-up' | 'measure' }[] = [{ connections: 8, phase: 'warm-up' }, ...opts.connectionCounts.map((c) => ({ connections: c, phase: 'measure' as const }))];
  for (const { connections, phase } of phases) {
    let bad = 0;
    const result = await autocannon({
      url: opts.serverUrl,
      connections,
      duration: phase === 'warm-up' ? 5 : opts.duration,
      timeout: 60,
      headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' },
      requests: [
        {
          setupRequest: (req: any) => ({ ...req, method: 'POST', path: '/ibr/registry/sync/enrolled', body: enrolledBody(batchOf()) }),
          onResponse: (status: number, body: string) => {
            const answers = status === 200 ? (JSON.parse(body).message.enrolled_response as { status: string }[]) : [];
            if (answers.length !== opts.batch || answers.some((a) => a.status !== 'succ')) bad++;
          },
        },
      ],
    } as any);
    if (phase === 'warm-up') continue;
    figures.push({
      connections,
      rps: result.requests.average,
      checksPerSecond: result.requests.average * opts.batch,
      p50: result.latency.p50,
      p99: result.latency.p99,
      errors: bad + result.errors + result.non2xx,
    });
  }
  return figures;
}
