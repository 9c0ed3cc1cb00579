// Everything a KMIP engine needs, opened together and closed together: the SQLite store,
// the (development) L1 provider, the interim key protector and the operations registry.
// `openRuntime({})` is in-memory and cheap: the conformance runner opens one per vector
// file, tests one per suite.
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { openSqliteStore, type SqliteStore } from '../store/sqlite.ts';
import { SoftwareL1Provider } from '../hsm/software.ts';
import type { L1Provider } from '../hsm/types.ts';
import { createInterimProtector } from '../hierarchy/interim.ts';
import { createObjectRepository } from '../hierarchy/repository.ts';
import { OPERATIONS } from '../operations/registry.ts';
import type { ObjectRepository, OperationHandler, ServerInfo } from '../operations/types.ts';
import * as adapters from '../kmip/adapters/index.ts';
import { silentLogger } from '../log/index.ts';
import { KmipEngine, type VersionAdapters } from './executor.ts';

export const DATABASE_FILE = 'openkcm.db';
export const SOFTWARE_L1_KEY_FILE = 'l1-software.key';

export interface RuntimeOptions {
  /** Directory of the database; undefined → in-memory SQLite (tests, the conformance runner). */
  dataDir?: string;
  /** Development L1 key file; default <dataDir>/l1-software.key, or a throw-away temp file when in memory. */
  l1KeyFile?: string;
  logger?: Logger;
  /** Clock for the engine and operations (tests and vector replays pin it). */
  now?: () => Date;
  /** Replaces the registry (tests only; production uses src/operations/registry.ts). */
  operations?: ReadonlyMap<number, OperationHandler>;
}

export interface Runtime {
  engine: KmipEngine;
  store: SqliteStore;
  l1: L1Provider;
  logger: Logger;
  server: ServerInfo;
  close(): Promise<void>;
}

function productVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
const VERSION = productVersion();

export async function openRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? silentLogger();
  let tempDir: string | undefined;
  let keyFile = options.l1KeyFile;
  if (keyFile === undefined) {
    if (options.dataDir !== undefined) keyFile = join(options.dataDir, SOFTWARE_L1_KEY_FILE);
    else {
      // In memory: a throw-away L1 key, removed at close (nothing it protects outlives the process).
      tempDir = mkdtempSync(join(tmpdir(), 'openkcm-l1-'));
      keyFile = join(tempDir, SOFTWARE_L1_KEY_FILE);
    }
  }
  const cleanupTemp = () => { if (tempDir) rmSync(tempDir, { recursive: true, force: true }); };

  let store: SqliteStore | undefined;
  let l1: SoftwareL1Provider | undefined;
  try {
    store = await openSqliteStore(options.dataDir !== undefined ? join(options.dataDir, DATABASE_FILE) : ':memory:');
    l1 = await SoftwareL1Provider.open(keyFile);
    const protector = await createInterimProtector(l1, store);
    const server: ServerInfo = { vendor: 'OpenKCM', product: 'OpenKCM KMIP server', version: VERSION, l1: l1.describe() };
    const repositories = new Map<string, ObjectRepository>();
    const s = store;
    const engineOptions = {
      operations: options.operations ?? OPERATIONS,
      adapters: adapters satisfies VersionAdapters,
      repositoryFor: (id: { tenant: string; service: string }) => {
        const key = `${id.tenant.length}:${id.tenant}/${id.service}`;
        let r = repositories.get(key);
        if (!r) {
          r = createObjectRepository(s, protector, { tenant: id.tenant, service: id.service });
          repositories.set(key, r);
        }
        return r;
      },
      // Undo (s.9.6) removes objects the undone items created.
      removeObject: (id: { tenant: string }, uid: string) => s.delete(id.tenant, uid),
      server,
      logger,
      ...(options.now ? { now: options.now } : {}),
    };
    const engine = new KmipEngine(engineOptions);
    const l1p = l1;
    let closed = false;
    return {
      engine, store, l1: l1p, logger, server,
      async close() {
        if (closed) return;
        closed = true;
        protector.close();
        await s.close();
        await l1p.close();
        cleanupTemp();
      },
    };
  } catch (e) {
    await store?.close().catch(() => undefined);
    await l1?.close().catch(() => undefined);
    cleanupTemp();
    throw e;
  }
}
