// The KeyProtector backed by the key hierarchy (issue 6), replacing the interim protector of
// the server issue, and the one-time migration of a database that the interim protector
// wrote. openHierarchy() is what the runtime calls at start.
import type { Logger } from 'pino';
import type { L1Provider } from '../hsm/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { HierarchyEngine, type HierarchyEngineOptions, type UnsealReport } from './engine.ts';
import { createInterimProtector, INTERIM_DEK_NAME, KeyProtectionError, type InterimProtector } from './interim.ts';
import type { SystemBlobStore as VaultSystemBlobStore } from '../store/types.ts';
import { L4_BLOB_V1, type HierarchyStore } from './keyring.ts';
import type { KeyProtector, ObjectPlace } from './types.ts';

/** First byte of a value blob written by the interim protector (interim.ts BLOB_V1). */
export const INTERIM_BLOB_FORMAT = 0x01;

/** What openHierarchy needs of the store: any VaultStore (SQLite, PostgreSQL) provides it. */
export type HierarchyBackingStore = HierarchyStore & VaultSystemBlobStore;

/**
 * Object values through the hierarchy. Every call first makes sure the tenant is unsealed,
 * so a sealed tenant's request fails with KmipError(PermissionDenied, 'tenant <t> is
 * sealed: <reason>'), which the repository and the operations pass on unchanged.
 * `interim`, while a migration is unfinished, still reads values not yet migrated; new and
 * saved values always go to the hierarchy.
 */
export function createHierarchyProtector(engine: HierarchyEngine, interim?: () => InterimProtector | undefined): KeyProtector {
  return {
    protect(place: ObjectPlace, plaintext: Buffer): Promise<Buffer> {
      return engine.wrap(place, plaintext);
    },
    async unprotect(place: ObjectPlace, blob: Buffer): Promise<Buffer> {
      if (blob[0] === L4_BLOB_V1) return engine.unwrap(place, blob);
      const old = interim?.();
      if (blob[0] === INTERIM_BLOB_FORMAT && old !== undefined) {
        // The seal covers values not yet migrated too.
        await engine.assertUnsealed(place.tenant);
        return old.unprotect(place, blob);
      }
      throw new KeyProtectionError(`value of object ${place.uid} is in no format this server reads (format byte ${blob[0]}, ${blob.length} bytes)`);
    },
  };
}

export interface MigrationReport {
  /** Values re-wrapped from the interim key to the hierarchy in this run. */
  migrated: number;
  /** Values still interim-wrapped (their tenant is sealed, or they do not open); the interim key is kept for them. */
  pending: number;
  /** The interim key blob is gone from the store (nothing needs it any more). */
  interimKeyDeleted: boolean;
}

/**
 * Moves every interim-wrapped value under the hierarchy: unwrapped with the interim key,
 * wrapped by the L3 of its service, written back page by page, each page one compare-and-set
 * transaction. Interrupted, it resumes at the next open: the blob's first byte tells a
 * migrated value (0x02) from one still to do (0x01). The interim key blob is deleted only
 * when no interim value is left. Returns the report and, when values are pending, the
 * interim protector that can still read them.
 */
export async function migrateInterimValues(
  store: HierarchyBackingStore,
  engine: HierarchyEngine,
  interimL1: L1Provider | undefined,
  opts: { pageSize?: number; log?: Logger } = {},
): Promise<{ report: MigrationReport; interim: InterimProtector | undefined }> {
  const report: MigrationReport = { migrated: 0, pending: 0, interimKeyDeleted: false };
  if ((await store.getSystemBlob(INTERIM_DEK_NAME)) === undefined) return { report, interim: undefined };
  if (interimL1 === undefined) throw new Error('the database holds an interim key, but no L1 provider was given to open it');
  // The blob exists, so this opens it rather than creating a new one.
  const interim = await createInterimProtector(interimL1, store);
  try {
    // Keyset over every tenant: a uid is unique only within its tenant (store migration 6).
    let after: { tenant: string; uid: string } | undefined;
    for (;;) {
      const q: { format: number; limit: number; afterTenant?: string; afterUid?: string } = { format: INTERIM_BLOB_FORMAT, limit: opts.pageSize ?? 256 };
      if (after !== undefined) {
        q.afterTenant = after.tenant;
        q.afterUid = after.uid;
      }
      const rows = await store.scanWrappedValues(q);
      if (rows.length === 0) break;
      const changes: { tenant: string; uid: string; expected: Buffer; next: Buffer }[] = [];
      for (const r of rows) {
        const place = { tenant: r.tenant, service: r.service, uid: r.uid };
        let plain: Buffer | undefined;
        try {
          plain = await interim.unprotect(place, r.wrappedValue);
          changes.push({ tenant: r.tenant, uid: r.uid, expected: r.wrappedValue, next: await engine.wrap(place, plain) });
        } catch (err) {
          // A sealed tenant (KmipError) or a value that does not open: left for a later run.
          report.pending++;
          opts.log?.warn({ tenant: r.tenant, uid: r.uid, err: (err as Error).message, sealed: err instanceof KmipError }, 'interim value not migrated');
        } finally {
          plain?.fill(0);
        }
      }
      report.migrated += await store.replaceWrappedValues(changes);
      const last = rows[rows.length - 1]!;
      after = { tenant: last.tenant, uid: last.uid };
    }
    if (report.pending === 0 && (await store.scanWrappedValues({ format: INTERIM_BLOB_FORMAT, limit: 1 })).length === 0) {
      await store.deleteSystemBlob(INTERIM_DEK_NAME);
      report.interimKeyDeleted = true;
      interim.close();
      opts.log?.info({ migrated: report.migrated }, 'interim key protection migrated to the key hierarchy; interim key deleted');
      return { report, interim: undefined };
    }
    return { report, interim };
  } catch (e) {
    interim.close();
    throw e;
  }
}

export interface OpenHierarchyOptions extends Omit<HierarchyEngineOptions, 'store' | 'defaultL1'> {
  /** L1 of every tenant not listed in `tenants` (the development software provider by default in the runtime). */
  defaultL1?: L1Provider;
  /**
   * Tenants with their own L1. An Error in place of a provider means that tenant's L1 failed
   * to open: the tenant stays sealed with that reason (the default L1 is not tried for it).
   */
  tenants?: Readonly<Record<string, L1Provider | Error>> | ReadonlyMap<string, L1Provider | Error>;
  /** The L1 that wrapped the interim key of an older database; default `defaultL1`. */
  interimL1?: L1Provider;
  /** Limit of each L1 call during the start-up unseal; default l1TimeoutMs. */
  unsealTimeoutMs?: number;
  migrationPageSize?: number;
}

export interface OpenedHierarchy {
  protector: KeyProtector;
  engine: HierarchyEngine;
  /** The start-up unseal: which tenants serve, which stay sealed and why. */
  unseal: UnsealReport;
  migration: MigrationReport;
  /** Seals every tenant (zeroizes the keys) and stops the status check; the store and L1 providers stay the caller's. */
  close(): Promise<void>;
}

/**
 * Opens the hierarchy over `store`: registers the tenants' L1s, unseals every known tenant
 * (in parallel, each L1 call time-limited; failures leave that tenant sealed), then migrates
 * values still under the interim key.
 */
export async function openHierarchy(store: HierarchyBackingStore, opts: OpenHierarchyOptions = {}): Promise<OpenedHierarchy> {
  const { tenants, interimL1, unsealTimeoutMs, migrationPageSize, ...engineOpts } = opts;
  const engine = new HierarchyEngine({ ...engineOpts, store });
  try {
    const list = tenants instanceof Map ? [...tenants.entries()] : Object.entries(tenants ?? {});
    for (const [tenant, l1] of list) {
      if (l1 instanceof Error) engine.registerTenantUnavailable(tenant, l1.message);
      else await engine.registerTenant(tenant, l1);
    }
    const unseal = await engine.unsealAll(unsealTimeoutMs !== undefined ? { timeoutMs: unsealTimeoutMs } : {});
    const migrated = await migrateInterimValues(store, engine, interimL1 ?? opts.defaultL1, {
      ...(migrationPageSize !== undefined ? { pageSize: migrationPageSize } : {}),
      ...(opts.log !== undefined ? { log: opts.log } : {}),
    });
    let interim = migrated.interim;
    const protector = createHierarchyProtector(engine, () => interim);
    return {
      protector,
      engine,
      unseal,
      migration: migrated.report,
      async close() {
        interim?.close();
        interim = undefined;
        await engine.close();
      },
    };
  } catch (e) {
    await engine.close();
    throw e;
  }
}
