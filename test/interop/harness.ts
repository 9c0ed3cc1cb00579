// Starts a real OpenKCM server for interoperability tests: a fresh in-memory runtime, the
// mutual-TLS listener on 127.0.0.1 port 0, and a development PKI generated into a temp dir.
// The runtime has no governance data, so it runs in bootstrap mode (src/server/runtime.ts):
// every certificate of the generated CA acts as admin of tenant `default`, service `default`,
// which is what the PyKMIP and product flows need. A test that creates a tenant or identity
// on this server ends that mode for every later client of the same server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import pino from 'pino';
import { ensureDevPki, type DevPkiFiles, type DevKeyAlgorithm } from '../../certs/devpki.ts';
import { startServer, type RunningServer } from '../../src/server/listener.ts';
import { openRuntime } from '../../src/server/runtime.ts';

export interface TestServer {
  host: string;
  port: number;
  pki: DevPkiFiles;
  close(): Promise<void>;
}

export async function startTestServer(opts: { algorithm?: DevKeyAlgorithm } = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'openkcm-interop-'));
  const { files } = await ensureDevPki(join(dir, 'pki'), { algorithm: opts.algorithm ?? 'ec-p256' });
  const logger = pino({ level: process.env.INTEROP_LOG_LEVEL ?? 'silent' });
  const runtime = await openRuntime({ logger });
  let server: RunningServer;
  try {
    server = await startServer(
      { listen: { host: '127.0.0.1', port: 0 }, tls: { caFile: files.caCert, certFile: files.serverCert, keyFile: files.serverKey } },
      { engine: runtime.engine, logger },
    );
  } catch (e) {
    await runtime.close();
    throw e;
  }
  const addr = server.address();
  return {
    host: '127.0.0.1',
    port: addr.port,
    pki: files,
    close: async () => {
      await server.close(1000);
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Debian's python3-pykmip imports only under /usr/bin/python3 (CLIENTS.md). */
export const PYTHON = '/usr/bin/python3';

export function pykmipAvailable(): boolean {
  return spawnSync(PYTHON, ['-c', 'import kmip'], { stdio: 'ignore' }).status === 0;
}
