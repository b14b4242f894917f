import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
const port = 18280;
const child = spawn(process.execPath, [...(process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof2'] : []), '--import', 'tsx', 'src/main.ts'], { env: { ...process.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/dci_bench_async', PORT: String(port), HOST: '127.0.0.1', DEMO_DATA: 'false', LOG_LEVEL: 'warn', WORKERS: process.env.W ?? 'false' }, stdio: 'inherit' });
for (let i = 0; i < 100; i++) { try { if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break; } catch {} await sleep(100); }
const tok = ((await (await fetch(`http://127.0.0.1:${port}/oauth2/client/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'demo-spmis', client_secret: 'demo-spmis-secret' }) })).json()) as any).access_token;
const body = () => JSON.stringify({ header: { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'search', sender_id: 'demo-spmis', sender_uri: 'http://127.0.0.1:1/cb', total_count: 1 }, message: { transaction_id: randomUUID(), search_request: [{ reference_id: '1', timestamp: new Date().toISOString(), search_criteria: { query_type: 'idtype-value', query: { type: 'UIN', value: '123' } } }] } });
let ok = 0;
const r = await autocannon({ url: `http://127.0.0.1:${port}`, connections: 32, duration: Number(process.env.D ?? 8), headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, requests: [{ method: 'POST', path: '/social/registry/search', setupRequest: (q: any) => ({ ...q, body: body() }), onResponse: (s: number) => { if (s === 202) ok++; } }] } as any);
console.log('ack rps', r.requests.average, 'p50', r.latency.p50, 'p99', r.latency.p99, 'ok', ok, 'non2xx', r.non2xx);
child.kill('SIGTERM'); await sleep(500);
