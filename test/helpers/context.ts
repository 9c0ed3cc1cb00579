// A real OperationContext for operation unit tests: in-memory SQLite store, the
// development L1 provider with a key file in a temp directory, the interim protector and a
// tenant-scoped repository. Nothing is mocked, so a test through it exercises the same
// wrapping and tenant scoping as the server.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import type { ProtocolVersion } from '../../src/kmip/version.ts';
import type { BatchState, ObjectRepository, OperationContext, OperationHandler } from '../../src/operations/types.ts';
import type { L1Description } from '../../src/hsm/types.ts';
import type { KeyProtector } from '../../src/hierarchy/types.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { SoftwareL1Provider } from '../../src/hsm/software.ts';
import { createInterimProtector, type InterimProtector } from '../../src/hierarchy/interim.ts';
import { createObjectRepository } from '../../src/hierarchy/repository.ts';

export const DEFAULT_TEST_TENANT = 'test-tenant';
export const DEFAULT_TEST_SERVICE = 'test-service';
const DEFAULT_VERSION: ProtocolVersion = { major: 2, minor: 1 };
const REGISTRY_PATH = join(import.meta.dirname, '..', '..', 'src', 'operations', 'registry.ts');

export function freshBatchState(): BatchState {
  return { idPlaceholder: undefined, lastByOperation: new Map(), responseUids: [], itemIndex: 0 };
}

function isHandler(v: unknown): v is OperationHandler {
  return typeof v === 'object' && v !== null && typeof (v as OperationHandler).operation === 'number' && typeof (v as OperationHandler).run === 'function';
}

function asOperationMap(v: unknown): ReadonlyMap<number, OperationHandler> | undefined {
  if (v instanceof Map) return v as ReadonlyMap<number, OperationHandler>;
  if (Array.isArray(v) && v.every(isHandler)) return new Map(v.map((h) => [h.operation, h]));
  return undefined;
}

let registryPromise: Promise<ReadonlyMap<number, OperationHandler>> | undefined;

/**
 * The operation registry of src/operations/registry.ts, or an empty map while that file does
 * not exist yet. A registry that exists but fails to load is an error, not an empty map:
 * hiding it would turn a broken registry into "OperationNotSupported" everywhere.
 */
export function loadOperationRegistry(): Promise<ReadonlyMap<number, OperationHandler>> {
  registryPromise ??= (async () => {
    if (!existsSync(REGISTRY_PATH)) return new Map();
    const mod = (await import(pathToFileURL(REGISTRY_PATH).href)) as Record<string, unknown>;
    // Accept the likely export shapes: a Map or a handler array, named or default, or a
    // factory function returning one of those.
    for (const key of ['operations', 'registry', 'OPERATIONS', 'REGISTRY', 'handlers', 'default']) {
      let v = mod[key];
      if (typeof v === 'function' && !isHandler(v)) {
        try {
          v = (v as () => unknown)();
        } catch {
          continue;
        }
      }
      const m = asOperationMap(v);
      if (m !== undefined) return m;
    }
    for (const v of Object.values(mod)) {
      const m = asOperationMap(v);
      if (m !== undefined) return m;
    }
    throw new Error(`src/operations/registry.ts exports no Map or array of OperationHandler (exports: ${Object.keys(mod).join(', ')})`);
  })();
  return registryPromise;
}

export interface ContextOptions {
  version?: ProtocolVersion;
  tenant?: string;
  service?: string;
}

export interface TestContext {
  ctx: OperationContext;
  store: SqliteStore;
  repo: ObjectRepository;
  l1: SoftwareL1Provider;
  protector: InterimProtector;
  /** Temp directory holding the L1 key file; removed by close(). */
  dir: string;
  close(): Promise<void>;
}

/**
 * A context for another identity on the same store and protector (tenant isolation tests).
 * `l1` only feeds serverInfo; pass the first context's `l1.describe()` to keep them alike.
 */
export async function makeContextFor(
  store: ObjectStore,
  protector: KeyProtector,
  tenant: string,
  service: string,
  opts: { version?: ProtocolVersion; l1?: L1Description } = {},
): Promise<{ ctx: OperationContext; repo: ObjectRepository }> {
  const repo = createObjectRepository(store, protector, { tenant, service });
  const ctx: OperationContext = {
    version: opts.version ?? DEFAULT_VERSION,
    identity: {
      subject: `CN=${service},O=${tenant}`,
      sans: [],
      fingerprint: '0'.repeat(64),
      tenant,
      service,
    },
    objects: repo,
    batch: freshBatchState(),
    now: () => new Date(),
    log: pino({ level: 'silent' }),
    server: {
      vendor: 'OpenKCM',
      product: 'OpenKCM',
      version: 'test',
      l1: opts.l1 ?? { provider: 'software', keyRef: '(test)', developmentOnly: true },
    },
    operations: await loadOperationRegistry(),
  };
  return { ctx, repo };
}

export async function makeTestContext(opts: ContextOptions = {}): Promise<TestContext> {
  const dir = mkdtempSync(join(tmpdir(), 'openkcm-ctx-'));
  const cleanups: Array<() => unknown> = [() => rmSync(dir, { recursive: true, force: true })];
  const undo = async () => {
    for (const c of cleanups.reverse()) await c();
  };
  try {
    const store = await openSqliteStore(':memory:');
    cleanups.push(() => store.close());
    const l1 = await SoftwareL1Provider.open(join(dir, 'l1.key'));
    cleanups.push(() => l1.close());
    const protector = await createInterimProtector(l1, store);
    cleanups.push(() => protector.close());
    const { ctx, repo } = await makeContextFor(store, protector, opts.tenant ?? DEFAULT_TEST_TENANT, opts.service ?? DEFAULT_TEST_SERVICE, {
      version: opts.version ?? DEFAULT_VERSION,
      l1: l1.describe(),
    });
    let closed = false;
    return {
      ctx,
      store,
      repo,
      l1,
      protector,
      dir,
      async close() {
        if (closed) return;
        closed = true;
        await undo();
      },
    };
  } catch (e) {
    await undo();
    throw e;
  }
}
