import { randomInt } from 'node:crypto';
import type { Database } from '../../db/client.js';

/** Advisory-lock class of worker numbers ("DC1"). */
const WORKER_LOCK_CLASS = 0xdc1;

/**
 * A lease is stale when its time ran out or when its owner's process is gone: every process holds its worker number
 * as an advisory lock on a connection of its own, which PostgreSQL drops with the process. A SIGKILLed process's
 * work is therefore taken over by the next poll, not after the lease time.
 */
export const STALE_LEASE = (alias: string) =>
  `(${alias}.lease_until is null or ${alias}.lease_until < now() or ${alias}.lease_owner not in ` +
  `(select objid::bigint from pg_locks where locktype = 'advisory' and classid = ${WORKER_LOCK_CLASS} and objsubid = 2 and granted))`;

export interface WorkerIdentity {
  readonly id: number;
  release(): Promise<void>;
}

/** Claims a worker number no live process holds. */
export async function registerWorker(db: Database): Promise<WorkerIdentity> {
  for (;;) {
    const id = randomInt(1, 2 ** 31 - 1);
    const release = await db.tryHoldAdvisoryLock(WORKER_LOCK_CLASS, id);
    if (release) return { id, release };
  }
}
