// Several worker processes of one `openkcm serve` (issue 12 "every core of the machine";
// the process supervision is src/cli/serve-workers.ts). Every worker opens the same SQLite
// database (WAL: readers never wait, one writer at a time with a busy timeout, group
// commit per worker) and unseals its own tenants with its own L1 calls, so each holds its
// own copy of the L2/L3 keys. What is shared through the database needs nothing more:
// governance (the access control re-reads it when its generation counter moves, in any
// process), objects, L2/L3 rows, the audit chain (each group re-chains after the real head
// inside its write transaction, src/audit/log.ts). What lives in memory — whether a tenant
// is sealed, its unwrapped keys, the current L3 version — is changed by the admin API in one
// worker and must reach the others: this module is that path.
//
// The admin API's hierarchy port is wrapped (broadcastingHierarchy): the act runs in the
// worker that received the request, then a HierarchyChange goes to the primary, which
// relays it to every other worker; each applies it to its own engine (applyPeerChange) and
// acknowledges. The kill switch waits for every acknowledgement before it answers, so when
// `kmipctl tenant kill` returns, no worker holds a key of the tenant any more.
import type { Logger } from 'pino';
import type { HierarchyEngine, TenantStatus } from '../hierarchy/engine.ts';
import type { L1Provider, L1Status } from '../hsm/types.ts';
import type { HierarchyPort } from './admin/context.ts';
import type { Readiness } from './metrics-http.ts';

/** An in-memory hierarchy change made by one worker, for the others to make too. */
export type HierarchyChange =
  | { kind: 'seal'; tenant: string; reason: string }
  | { kind: 'kill'; tenant: string; reason: string }
  | { kind: 'unseal'; tenant: string }
  /** A new L1 pointer was verified and saved: each worker opens it from the governance row. */
  | { kind: 'enable'; tenant: string }
  | { kind: 'l1-status'; tenant: string; status: L1Status; source: string }
  | { kind: 'l2'; tenant: string; version: number }
  | { kind: 'l3'; tenant: string; service: string };

/** What one worker holds of a tenant (`kmipctl tenant show` on a server with several workers). */
export interface WorkerTenantReport {
  worker: number;
  pid: number;
  sealed: boolean;
  killed: boolean;
  sealKind: string | null;
  reason: string | null;
  l2Version: number | null;
  /** The L3 versions loaded, per service, and the one new values are wrapped with. */
  services: { service: string; currentVersion: number }[];
  /** L2/L3 key buffers the worker's engine holds for the tenant, and how many bytes of them are not zero. */
  keyBuffers: number;
  nonZeroKeyBytes: number;
}

/** How long an act waits for the other workers' acknowledgements before it answers anyway. */
export const PEER_ACK_TIMEOUT_MS = 5_000;

/**
 * Publishes a change to the other workers; resolves when each has applied it (or failed to,
 * which it logs), or after PEER_ACK_TIMEOUT_MS.
 */
export type PublishChange = (change: HierarchyChange) => Promise<void>;

/**
 * The admin API's hierarchy port over this worker's engine: each act is done here first, then
 * published. Seal and kill are synchronous here (the local seal happens before the call
 * returns, as in one process); the kill switch's promise also waits for the other workers.
 */
export function broadcastingHierarchy(engine: HierarchyEngine, publish: PublishChange, log: Logger): HierarchyPort {
  const tell = (c: HierarchyChange): Promise<void> => publish(c).catch((err: unknown) => {
    log.error({ event: 'worker_broadcast_failed', change: c.kind, tenant: c.tenant, err: (err as Error).message }, 'could not reach the other workers');
  });
  return {
    seal(tenant, reason) {
      engine.seal(tenant, reason);
      void tell({ kind: 'seal', tenant, reason });
    },
    killSwitch(tenant, reason) {
      const local = engine.killSwitch(tenant, reason);
      const peers = tell({ kind: 'kill', tenant, reason: reason ?? 'kill switch: the L1 pointer was disabled' });
      return Promise.all([local, peers]).then(() => undefined);
    },
    async unsealTenant(tenant) {
      const st = await engine.unsealTenant(tenant);
      // Only a tenant that opened here is worth the others' L1 calls.
      if (!engine.isSealed(tenant)) await tell({ kind: 'unseal', tenant });
      return st;
    },
    async enableTenant(tenant, l1) {
      const st = await engine.enableTenant(tenant, l1);
      if (!engine.isSealed(tenant)) await tell({ kind: 'enable', tenant });
      return st;
    },
    status: (tenant) => engine.status(tenant),
    reportL1Status(tenant, status, source) {
      const st = engine.reportL1Status(tenant, status, source);
      if (status.state === 'revoked' || status.state === 'disabled') void tell({ kind: 'l1-status', tenant, status, source: source ?? 'l1 check' });
      return st;
    },
    verifyL1: (tenant, l1) => engine.verifyL1(tenant, l1),
    async rotateL3(tenant, service) {
      const v = await engine.rotateL3(tenant, service);
      // The others would otherwise go on wrapping new values under the previous version.
      await tell({ kind: 'l3', tenant, service });
      return v;
    },
    async rotateL2(tenant) {
      const v = await engine.rotateL2(tenant);
      await tell({ kind: 'l2', tenant, version: v });
      return v;
    },
    // Rewritten rows only: nothing in memory changes (a value keeps its revision and plaintext).
    rewrapAll: (tenant, service) => engine.rewrapAll(tenant, service),
  };
}

export interface PeerChangeDeps {
  engine: HierarchyEngine;
  /** Opens the tenant's L1 from its governance pointer (undefined: none active). */
  openTenantL1(tenant: string): Promise<L1Provider | undefined>;
  log: Logger;
}

/**
 * Applies another worker's change to this worker's engine. The seal and the kill switch act
 * before the first await: the keys are zero when this returns its promise.
 */
export async function applyPeerChange(change: HierarchyChange, deps: PeerChangeDeps): Promise<void> {
  const { engine, log } = deps;
  const known = engine.tenantNames().includes(change.tenant);
  switch (change.kind) {
    case 'seal':
      engine.seal(change.tenant, change.reason);
      return;
    case 'kill':
      // The pointer is already disabled in the store by the worker that acted: only seal.
      if (engine.status(change.tenant).killed !== true) engine.killedElsewhere(change.tenant, change.reason);
      return;
    case 'l1-status':
      engine.reportL1Status(change.tenant, change.status, `${change.source}, in another worker`);
      return;
    case 'unseal':
      await engine.unsealTenant(change.tenant);
      return;
    case 'enable': {
      const l1 = await deps.openTenantL1(change.tenant);
      if (l1 === undefined) {
        log.warn({ event: 'worker_enable_without_pointer', tenant: change.tenant }, 'another worker enabled an L1 pointer that this worker cannot find');
        return;
      }
      await engine.enableTenant(change.tenant, l1);
      return;
    }
    case 'l2':
      if (known) await engine.reloadL2(change.tenant, change.version);
      return;
    case 'l3':
      if (known && !engine.isSealed(change.tenant)) await engine.reloadL3(change.tenant, change.service);
      return;
  }
}

/** This worker's view of a tenant, key bytes counted, never shown. */
export function workerTenantReport(engine: HierarchyEngine, tenant: string, worker: number): WorkerTenantReport {
  const st: TenantStatus = engine.status(tenant);
  const buffers = engine.liveKeyBuffersForTests(tenant);
  let nonZero = 0;
  for (const b of buffers) for (const x of b) if (x !== 0) nonZero++;
  return {
    worker, pid: process.pid, sealed: st.sealed, killed: st.killed, sealKind: st.sealKind ?? null, reason: st.reason ?? null,
    l2Version: st.l2Version ?? null, services: st.services.map((x) => ({ service: x.service, currentVersion: x.currentVersion })), keyBuffers: buffers.length, nonZeroKeyBytes: nonZero,
  };
}

// ------------------------------------------------------------------ IPC messages

/** Worker → primary. */
export type WorkerMessage =
  /** Loaded, waiting for the lead worker to finish the first-start work. */
  | { openkcm: 'waiting' }
  | { openkcm: 'ready'; kmipPort: number; adminPort: number | null; httpsPort?: number | null }
  | { openkcm: 'change'; id: number; change: HierarchyChange }
  | { openkcm: 'applied'; id: number; error: string | null }
  | { openkcm: 'collect'; id: number; tenant: string }
  | { openkcm: 'report'; id: number; report: WorkerTenantReport | null }
  /** Its answer to a readiness request (the primary's /readyz, issue 14 §2). */
  | { openkcm: 'readiness'; id: number; readiness: Readiness };

/** Primary → worker. */
export type PrimaryMessage =
  /** The lead worker is serving: open the runtime. */
  | { openkcm: 'go' }
  | { openkcm: 'apply'; id: number; change: HierarchyChange }
  | { openkcm: 'published'; id: number; errors: string[] }
  | { openkcm: 'report-request'; id: number; tenant: string }
  | { openkcm: 'collected'; id: number; reports: WorkerTenantReport[] }
  | { openkcm: 'readiness-request'; id: number }
  | { openkcm: 'shutdown' };

const ours = (m: unknown): boolean => typeof m === 'object' && m !== null && typeof (m as { openkcm?: unknown }).openkcm === 'string';
export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return ours(m);
}
export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  return ours(m);
}
