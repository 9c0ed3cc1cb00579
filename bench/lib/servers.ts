// The servers a comparison benchmark runs side by side: OpenKCM on disk (durable, like
// production), optionally OpenKCM in memory, and PyKMIP's server, all under one generated
// PKI in the benchmark's temporary directory.
import { join } from 'node:path';
import { ensureDevPki, type DevPkiFiles } from '../../src/server/devpki.ts';
import type { LogLevel } from '../../src/log/index.ts';
import { startOpenKcm, type ServerHandle } from './openkcm-server.ts';
import { startPyKmip } from './pykmip.ts';

export interface ComparedServers {
  dir: string;
  logLevel: LogLevel;
  /** Also run an in-memory OpenKCM (--memory). */
  memory: boolean;
  withPyKmip: boolean;
  /** Also run OpenKCM on this PostgreSQL vault (--postgres). */
  postgresUrl?: string;
  /** --cpu-prof DIR: one profile folder per OpenKCM server. */
  cpuProfDir?: string;
  log(s: string): void;
}

/**
 * Starts the servers, pushing each into `servers` as soon as it runs, so the caller's
 * `finally` stops whatever did start when a later one fails. Returns the PKI the clients use.
 */
export async function startComparedServers(servers: ServerHandle[], o: ComparedServers): Promise<DevPkiFiles> {
  const { files: pki } = await ensureDevPki(join(o.dir, 'pki'), { algorithm: 'ec-p256' });
  o.log(`temporary directory ${o.dir}`);
  const prof = (which: string) => (o.cpuProfDir !== undefined ? { cpuProfileDir: join(o.cpuProfDir, which) } : {});
  servers.push(await startOpenKcm('OpenKCM', { pki, dataDir: join(o.dir, 'openkcm'), logLevel: o.logLevel, logFile: join(o.dir, 'openkcm.log'), ...prof('disk') }));
  if (o.postgresUrl !== undefined) {
    servers.push(await startOpenKcm('OpenKCM (PostgreSQL)', {
      pki, dataDir: join(o.dir, 'openkcm-pg'), databaseUrl: o.postgresUrl, logLevel: o.logLevel, logFile: join(o.dir, 'openkcm-pg.log'), ...prof('postgres'),
    }));
  }
  if (o.memory) servers.push(await startOpenKcm('OpenKCM (memory)', { pki, logLevel: o.logLevel, logFile: join(o.dir, 'openkcm-memory.log'), ...prof('memory') }));
  if (o.withPyKmip) servers.push(await startPyKmip('PyKMIP', { pki, dir: join(o.dir, 'pykmip'), loggingLevel: o.logLevel === 'silent' ? 'WARNING' : 'INFO' }));
  o.log(`servers: ${servers.map((s) => `${s.name} on ${s.host}:${s.port} (pid ${s.pid})`).join(', ')}`);
  return pki;
}
