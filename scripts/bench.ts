/**
 * npm run bench: loads 100,000 households into PostgreSQL and measures, at 32 connections, the SR sync search by UIN,
 * a 100-result expression search and a search of people by region and age against the bare-lookup ceiling on the same
 * server; also the seeding rate.
 *
 *   BENCH_DATABASE_URL   admin URL of the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres);
 *                        the bench creates and drops its own database `dci_bench` (BENCH_DATABASE_NAME to change)
 *   BENCH_HOUSEHOLDS     households to load (default 100000)
 *   BENCH_DURATION       seconds per scenario (default 15)
 *   BENCH_CONNECTIONS    concurrent connections (default 32)
 *   BENCH_ASYNC_RATE     async searches per second of the 60 s steady run (default 2000)
 *   BENCH_STEADY_SECONDS length of the steady run (default 60)
 *   BENCH_ONLY           `sync`, `async`, `events` or `ibr` to run one part
 *   BENCH_ENROLMENTS     enrolments the IBR part tops the registry up to (default 1000000)
 *
 * Then the async protocol: async searches acknowledged per second, callbacks delivered per second to a local
 * receiver, and the backlog during a steady stream (scripts/bench-async.ts). Then CRVS notifies and subscriptions
 * (scripts/bench-events.ts), and the IBR duplicate check for 100 people at 1,000,000 enrolments (scripts/bench-ibr.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import postgres from 'postgres';
import { migrateDatabase, openDatabase } from '../src/db/client.js';
import { seedRegistry } from '../src/registry/seed/load.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey } from '../src/dci/signing/keys.js';
import { FileDataKeySource } from '../src/registry/data-keys.js';
import { IdentifierVault } from '../src/registry/identifiers.js';
import { EnvelopeSigner } from '../src/dci/signing/signer.js';
import { benchAsync, benchIntake } from './bench-async.js';
import { benchEvents, DEATHS_PER_MESSAGE } from './bench-events.js';
import { addBenchEnrolments, benchEnrolled } from './bench-ibr.js';

const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const households = Number(process.env.BENCH_HOUSEHOLDS ?? 100_000);
const duration = Number(process.env.BENCH_DURATION ?? 15);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const port = Number(process.env.BENCH_PORT ?? 18080);
const dbName = process.env.BENCH_DATABASE_NAME ?? 'dci_bench';
const only = process.env.BENCH_ONLY;

const dbUrl = (() => {
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
})();

async function prepareDatabase() {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${dbName} with (force)`);
  await admin.unsafe(`create database ${dbName}`);
  await admin.end();
  const db = await openDatabase({ databaseUrl: dbUrl, poolSize: 4 });
  await migrateDatabase(db);
  const seeded = await seedRegistry(db, { households, seed: 2026, dataKeys });
  // Settle the freshly loaded tables before measuring: otherwise autovacuum and the checkpoint after 1.5 million
  // inserted rows run during the first scenarios and skew them.
  await db.query('vacuum (analyze)');
  await db.query('checkpoint');
  // Living people in a household, so that every lookup has exactly one Member and one Group to return.
  const vault = await IdentifierVault.load(db, dataKeys);
  const uins = vault.openAll(
    await db.query<{ type: string; value: null; sealed: string }>(`select x.id_type as type, x.id_value as value, encode(x.id_sealed, 'base64') as sealed
      from identifiers x join memberships m on m.individual_id = x.individual_id and m.end_date is null
      where x.id_type = 'UIN' order by random() limit 40000`),
  ).map((x) => x.value);
  const regions = (await db.query<{ name: string }>(`select name from areas where level = 'region'`)).map((r) => r.name);
  const enrolments = only === undefined || only === 'ibr' ? await addBenchEnrolments(db, Number(process.env.BENCH_ENROLMENTS ?? 1_000_000)) : 0;
  await db.close();
  return { seeded, uins, regions, enrolments };
}

/** A partner that signs every request (signature required) and one that does not sign (signature off). */
const benchKey = await generateSigningKey();
const benchDir = mkdtempSync(join(tmpdir(), 'dci-bench-'));
const partnersFile = join(benchDir, 'partners.json');
// The servers open the identifiers this run seals with the same key.
const dataKeyFile = join(benchDir, 'data-key');
writeFileSync(dataKeyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
const dataKeys = await new FileDataKeySource({ path: dataKeyFile, dataDir: benchDir }).load();
writeFileSync(
  partnersFile,
  JSON.stringify([
    { id: 'bench-signed', secret: 'bench-signed-secret', scopes: ['social:registry.search'], signature: 'required', jwks: { keys: [benchKey.publicJwk] } },
    { id: 'bench-plain', secret: 'bench-plain-secret', scopes: ['social:registry.search'], signature: 'off' },
    { id: 'bench-crvs', secret: 'bench-crvs-secret', scopes: ['crvs:registry.notify'], signature: 'off' },
    {
      id: 'bench-subscriber',
      secret: 'bench-subscriber-secret',
      scopes: ['social:registry.subscribe'],
      signature: 'off',
      callback_origins: [`http://127.0.0.1:${port + 20}`],
      callback_base_url: `http://127.0.0.1:${port + 20}`,
      callback_private_network: true,
    },
  ]),
);
const benchSigner = new EnvelopeSigner(benchKey, 'bench-signed');

async function startServer(extraEnv: Record<string, string> = {}): Promise<ChildProcess> {
  // BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" profiles the server under load.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, DATABASE_URL: dbUrl, PORT: String(port), HOST: '127.0.0.1', DEMO_DATA: 'false', BENCH_ROUTES: 'true', LOG_LEVEL: 'warn', NODE_ENV: 'development', PARTNERS_FILE: partnersFile, DATA_KEY: dataKeyFile, ...extraEnv },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Ready when it says so: with SERVER_PROCESSES, /readyz answers once the first process is up, before the others.
  let said = '';
  const ready = new Promise<boolean>((resolve) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (said.length < 100_000) said += d.toString();
      if (said.includes('server ready at')) resolve(true);
    });
    child.once('exit', () => resolve(false));
  });
  if (await Promise.race([ready, sleep(60_000).then(() => false)])) return child;
  child.kill('SIGKILL');
  throw new Error(`server did not become ready: ${said.slice(-2000)}`);
}

async function getToken(clientId = 'demo-spmis', secret = 'demo-spmis-secret'): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/oauth2/client/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

function envelope(criteria: Record<string, unknown>, senderId = 'demo-spmis', sign = false): string {
  const header = { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'search', sender_id: senderId, total_count: 1 };
  const message = { transaction_id: randomUUID(), search_request: [{ reference_id: '1', timestamp: new Date().toISOString(), search_criteria: criteria }] };
  return sign ? benchSigner.signedEnvelopeText('dci', header, message) : JSON.stringify({ header, message });
}

interface Figure {
  name: string;
  clients: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function run(
  name: string,
  request: () => { method: 'GET' | 'POST'; path: string; body?: string },
  headers: Record<string, string>,
  check?: (body: string) => boolean,
  clients = connections,
): Promise<Figure> {
  let bad = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: clients,
    duration,
    // A slow answer is measured as slow, not counted as an error.
    timeout: 60,
    headers,
    requests: [
      {
        setupRequest: (req: any) => ({ ...req, ...request() }),
        onResponse: (status: number, body: string) => {
          if (status !== 200 || (check && !check(body))) bad++;
        },
      },
    ],
  } as any);
  return { name, clients, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: bad + result.errors + result.non2xx };
}

const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)];

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/**
 * The async part leaves tens of thousands of callbacks undelivered (its figures say so); left in place, the server's
 * workers keep delivering them through the parts after it and take the CPU those parts measure. They are bench
 * traffic: the server is stopped, the async tables emptied, and a fresh server started.
 */
async function withoutAsyncBacklog(child: ChildProcess, extraEnv: Record<string, string> = {}): Promise<ChildProcess> {
  await stopServer(child);
  const db = postgres(dbUrl, { max: 1, onnotice: () => {} });
  await db.unsafe('truncate callback_attempts, callback_deliveries, dci_execution_queue, dci_transactions');
  await db.end();
  return startServer(extraEnv);
}

async function main() {
  process.stdout.write(`Preparing ${dbName}: ${households} households ...\n`);
  const { seeded, uins, regions, enrolments } = await prepareDatabase();
  const peoplePerSecond = seeded.people / (seeded.ms / 1000);
  process.stdout.write(`Seeded ${seeded.households} households, ${seeded.people} people in ${(seeded.ms / 1000).toFixed(1)} s (COPY): ${Math.round(peoplePerSecond)} people/s; then ${seeded.enrolments} demo enrolments and ${seeded.disabilityRecords} disability records in ${(seeded.derivedMs / 1000).toFixed(1)} s (SQL)\n`);

  let server = await startServer();
  let signedFigure: Figure | undefined;
  try {
    let token = await getToken();
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const hasOneRecord = (body: string) => body.includes('"status":"succ"') && body.includes('"total_count":1}');
    const hasHundred = (body: string) => {
      const b = JSON.parse(body);
      return b.message.search_response[0].data?.reg_records.length === 100;
    };
    /** A sync search by a random UIN, for the Member (or `entity`'s record), as `senderId`, signed when `sign`. */
    const byUin = (opts: { entity?: 'Group'; senderId?: string; sign?: boolean } = {}) => () => ({
      method: 'POST' as const,
      path: '/social/registry/sync/search',
      body: envelope({ query_type: 'idtype-value', ...(opts.entity ? { response_entity: opts.entity } : {}), query: { type: 'UIN', value: pick(uins) } }, opts.senderId, opts.sign),
    });
    // Warm up connections, JIT and the prepared statements.
    await run('warm-up', () => ({ method: 'GET', path: `/bench/ceiling/uin/${pick(uins)}` }), {});
    const figures: Figure[] = [];
    if (only === undefined || only === 'sync') {
    figures.push(await run('ceiling: bare prepared UIN lookup', () => ({ method: 'GET', path: `/bench/ceiling/uin/${pick(uins)}` }), {}, (b) => b.includes('external_id')));
    figures.push(
      await run('SR sync search by UIN (Member)', byUin(), auth, hasOneRecord),
    );
    figures.push(
      await run('same, 1 connection (single-request latency)', byUin(), auth, hasOneRecord, 1),
    );
    figures.push(
      await run('SR sync search by UIN (Group + members)', byUin({ entity: 'Group' }), auth, hasOneRecord),
    );
    const groupSearch = () => {
      const low = Math.floor(Math.random() * 40);
      return {
        method: 'POST' as const,
        path: '/social/registry/sync/search',
        body: envelope({
          query_type: 'expression',
          response_entity: 'Group',
          query: { type: 'ns:org:QueryType:NoSql', value: { expression: { collection: 'Group', query: { $and: [{ poverty_score: { $gte: low, $lt: low + 30 } }, { group_size: { $gte: 2 } }, { region: pick(regions) }] } } } },
          sort: [{ attribute_name: 'poverty_score', sort_order: 'asc' }],
          pagination: { page_size: 100, page_number: 1 + Math.floor(Math.random() * 3) },
        }),
      };
    };
    figures.push(await run('100-result expression search (Group records with members)', groupSearch, auth, hasHundred));
    figures.push(await run('same, 1 connection (single-request latency)', groupSearch, auth, hasHundred, 1));
    // People aged 60 or over in a region (a social pension's list), a page of 10 with its total count.
    const elderlySearch = () => ({
      method: 'POST' as const,
      path: '/social/registry/sync/search',
      body: envelope({
        query_type: 'expression',
        response_entity: 'Member',
        query: { type: 'ns:org:QueryType:NoSql', value: { expression: { collection: 'Member', query: { $and: [{ region: pick(regions) }, { age: { $gte: 60 } }] } } } },
        pagination: { page_size: 10, page_number: 1 + Math.floor(Math.random() * 5) },
      }),
    });
    const hasTenOfMany = (body: string) => body.includes('"status":"succ"') && JSON.parse(body).message.search_response[0].data?.reg_records.length === 10;
    figures.push(await run('Member search by region and age >= 60 (10 per page, with count)', elderlySearch, auth, hasTenOfMany));
    const signedAuth = { authorization: `Bearer ${await getToken('bench-signed', 'bench-signed-secret')}`, 'content-type': 'application/json' };
    signedFigure = await run('SR sync search by UIN, request signature verified, answer signed', byUin({ senderId: 'bench-signed', sign: true }), signedAuth, hasOneRecord);
    figures.push(signedFigure);
    const ceiling = figures[0]?.rps ?? 0;
    const printRow = (f: Figure) => process.stdout.write(`| ${f.name} | ${f.clients} | ${Math.round(f.rps)} | ${f.p50} | ${f.p99} | ${((f.rps / ceiling) * 100).toFixed(0)}% | ${f.errors} |\n`);
    if (figures.length > 0) process.stdout.write(`\nPostgreSQL, ${seeded.households} households / ${seeded.people} people, ${connections} connections, ${duration} s per scenario\n\n`);
    process.stdout.write(`| scenario | connections | requests/s | p50 ms | p99 ms | vs ceiling | errors |\n|---|---:|---:|---:|---:|---:|---:|\n`);
    for (const f of figures) printRow(f);
    process.stdout.write(`| seeding (COPY) | | ${Math.round(peoplePerSecond)} people/s | | | | |\n`);
    // The same two searches served by two server processes (SERVER_PROCESSES=2) on the same two cores.
    await stopServer(server);
    server = await startServer({ SERVER_PROCESSES: '2' });
    await run('warm-up', () => ({ method: 'GET', path: `/bench/ceiling/uin/${pick(uins)}` }), {});
    const twoAuth = { authorization: `Bearer ${await getToken()}`, 'content-type': 'application/json' };
    const two = [
      await run('SR sync search by UIN (Member), 2 server processes', byUin(), twoAuth, hasOneRecord),
      await run('100-result expression search, 2 server processes', groupSearch, twoAuth, hasHundred),
    ];
    for (const f of two) printRow(f);
    figures.push(...two);
    await stopServer(server);
    server = await startServer();
    token = await getToken();
    auth.authorization = `Bearer ${token}`;
    }
    if (only === undefined || only === 'async') {
      const a = await benchAsync({
        serverUrl: `http://127.0.0.1:${port}`,
        token,
        uins,
        connections,
        duration,
        steadyRate: Number(process.env.BENCH_ASYNC_RATE ?? 2000),
        steadySeconds: Number(process.env.BENCH_STEADY_SECONDS ?? 60),
        receiverPort: port + 10,
      });
      process.stdout.write(`\nAsync search by UIN (ACK 202, then an on-search callback to a local receiver)\n\n| scenario | figure |\n|---|---:|\n`);
      process.stdout.write(`| ACKs per second, ${connections} connections, ${duration} s | ${Math.round(a.ackRps)} (p50 ${a.ackP50} ms, p99 ${a.ackP99} ms, ${a.ackErrors} errors) |\n`);
      process.stdout.write(`| callbacks delivered per second, from the first ACK to the last callback of that burst (${a.accepted} requests) | ${Math.round(a.burstCallbacksPerSecond)} |\n`);
      process.stdout.write(`| time to deliver the burst's backlog after the load stopped | ${a.drainSeconds.toFixed(1)} s |\n`);
      process.stdout.write(`| steady ${a.steadyRate} requests/s for ${a.steadySeconds} s: ACKs per second | ${Math.round(a.steadyAckRps)} (p50 ${a.steadyAckP50} ms, p99 ${a.steadyAckP99} ms, ${a.steadyErrors} errors) |\n`);
      process.stdout.write(`| steady ${a.steadyRate} requests/s for ${a.steadySeconds} s: callbacks per second | ${Math.round(a.steadyCallbacksPerSecond)} |\n`);
      process.stdout.write(`| backlog (accepted, not yet delivered) every 5 s of the steady run | ${a.backlog.join(', ')} |\n`);
      // Intake alone, on a fresh server without workers; then a fresh server with them for the parts that follow.
      server = await withoutAsyncBacklog(server, { WORKERS: 'false' });
      const intake = await benchIntake({ serverUrl: `http://127.0.0.1:${port}`, token: await getToken(), uins, connections, duration, receiverPort: port + 10 });
      process.stdout.write(`| ACKs per second of a server that only takes requests in (WORKERS=false: execution and callbacks in other processes), ${connections} connections, ${duration} s | ${Math.round(intake.rps)} (p50 ${intake.p50} ms, p99 ${intake.p99} ms, ${intake.errors} errors) |\n`);
      if (a.ackErrors > 0 || a.steadyErrors > 0 || intake.errors > 0) process.exitCode = 1;
      server = await withoutAsyncBacklog(server);
      token = await getToken();
    }
    if (only === undefined || only === 'events') {
      const fanout = await openDatabase({ databaseUrl: dbUrl, poolSize: 1 });
      const e = await benchEvents({
        serverUrl: `http://127.0.0.1:${port}`,
        crvsToken: await getToken('bench-crvs', 'bench-crvs-secret'),
        subscriberToken: await getToken('bench-subscriber', 'bench-subscriber-secret'),
        uins,
        connections,
        duration,
        receiverPort: port + 20,
        fanoutBacklog: async () => {
          const [row] = await fanout.query<{ n: number }>(`select count(*)::int as n from notify_queue`);
          return Number(row.n);
        },
      });
      await fanout.close();
      process.stdout.write(`\nVital events (CRVS notify of deaths) and subscriptions\n\n| scenario | figure |\n|---|---:|\n`);
      process.stdout.write(`| deaths applied per second (stored, applied, registry events written, then ACK), ${connections} connections | ${Math.round(e.appliedPerSecond)} (p50 ${e.applyP50} ms, p99 ${e.applyP99} ms, ${e.applyErrors} errors) |\n`);
      process.stdout.write(`| deaths applied per second, ${DEATHS_PER_MESSAGE} per notify message (one transaction per message), ${connections} connections | ${Math.round(e.batchedPerSecond)} (message p50 ${e.batchedP50} ms, p99 ${e.batchedP99} ms, ${e.batchedErrors} errors) |\n`);
      process.stdout.write(`| notify fan-out catching up after both runs: ${e.backlog} registry events (no subscriber yet) | ${e.fanoutSeconds.toFixed(1)} s |\n`);
      process.stdout.write(`| registry change (CRVS ACK) to the subscriber's notify, ${e.sent} deaths at 25/s | p50 ${e.latencyP50} ms, p99 ${e.latencyP99} ms (${e.notified} of ${e.sent} notified) |\n`);
      if (e.applyErrors > 0 || e.batchedErrors > 0 || e.notified < e.sent) process.exitCode = 1;
    }
    if (only === undefined || only === 'ibr') {
      const batch = 100;
      const figures = await benchEnrolled({ serverUrl: `http://127.0.0.1:${port}`, token, uins, connectionCounts: [1, 8, connections], duration, batch });
      process.stdout.write(`\nIBR duplicate check: sync/enrolled for ${batch} people per request (by UIN), ${enrolments} enrolments\n\n| connections | requests/s | people checked/s | p50 ms | p99 ms | errors |\n|---:|---:|---:|---:|---:|---:|\n`);
      for (const f of figures) process.stdout.write(`| ${f.connections} | ${Math.round(f.rps)} | ${Math.round(f.checksPerSecond)} | ${f.p50} | ${f.p99} | ${f.errors} |\n`);
      if (figures.some((f) => f.errors > 0)) process.exitCode = 1;
    }
    if (signedFigure) {
      // The same search with signing off on both sides, on a server started without signing, for the ratio.
      await stopServer(server);
      server = await startServer({ DCI_SIGNING: 'false', WORKERS: 'false' });
      const plainAuth = { authorization: `Bearer ${await getToken('bench-plain', 'bench-plain-secret')}`, 'content-type': 'application/json' };
      await run('warm-up', () => ({ method: 'GET', path: `/bench/ceiling/uin/${pick(uins)}` }), {});
      const plain = await run('same, no signatures', byUin({ senderId: 'bench-plain' }), plainAuth, hasOneRecord);
      process.stdout.write(`\nSigning: ${Math.round(signedFigure.rps)} requests/s with request signatures verified and answers signed, ${Math.round(plain.rps)} with neither (p99 ${signedFigure.p99} vs ${plain.p99} ms): ${((signedFigure.rps / plain.rps) * 100).toFixed(0)}%\n`);
      if (plain.errors > 0) process.exitCode = 1;
    }
    if (figures.some((f) => f.errors > 0)) process.exitCode = 1;
  } finally {
    // Let the server finish its shutdown before its database is dropped under it.
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    if (process.env.BENCH_KEEP_DATABASE !== '1') {
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists ${dbName} with (force)`);
      await admin.end();
    }
  }
}

await main();
