import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
const port = 18281;
const child = spawn(process.execPath, [...(process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof3'] : []), '--import', 'tsx', 'src/main.ts'], { env: { ...process.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/dci_bench_async', PORT: String(port), HOST: '127.0.0.1', DEMO_DATA: 'false', LOG_LEVEL: 'warn' }, stdio: 'ignore' });
const t0 = Date.now();
const stats = async () => (await (await fetch('http://127.0.0.1:18190/stats')).json()) as any;
const start = await stats();
for (;;) { await sleep(1000); const s = await stats(); console.log(((Date.now() - t0) / 1000).toFixed(0), 's', s.transactions - start.transactions); if (Date.now() - t0 > Number(process.env.T ?? 15000)) break; }
child.kill('SIGTERM'); await sleep(1500);
