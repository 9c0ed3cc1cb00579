// The data-key API on a Unix socket (owner and group only), and a gateway that cannot reach
// its Core from the start: it answers, refuses to make keys with one line, and says so in
// /v1/status.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway } from '../../src/gateway/index.ts';
import { parseTokenFile } from '../../src/gateway/tokens.ts';
import { silentLogger } from '../../src/log/index.ts';
import { ensureDevPki } from '../../src/server/devpki.ts';
import { readFileSync } from 'node:fs';
import { waitFor } from './helpers.ts';

function call(socketPath: string, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: Record<string, any> }> {
  const text = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

describe('gateway on a Unix socket, Core unreachable', () => {
  it('answers on the socket (mode 0660) and refuses new keys: the core is unreachable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-gw-unix-'));
    const { files } = await ensureDevPki(join(dir, 'certs'));
    const token = 'c'.repeat(48);
    const sock = join(dir, 'gw.sock');
    const gw = await startGateway({
      core: { host: '127.0.0.1', port: 1, ca: readFileSync(files.caCert), cert: readFileSync(files.clientCert), key: readFileSync(files.clientKey) },
      tenant: 'acme', service: 'billing', services: ['billing'], listen: { kind: 'unix', path: sock }, tokens: parseTokenFile(`app ${token}`, 'tokens'),
      logger: silentLogger(), probeIntervalMs: 50,
    });
    try {
      expect(statSync(sock).mode & 0o777).toBe(0o660);
      await waitFor(async () => (await call(sock, 'GET', '/v1/status')).body.core === 'unreachable', 10_000);
      const dk = await call(sock, 'POST', '/v1/datakey', { service: 'billing' }, token);
      expect(dk.status).toBe(503);
      expect(dk.body.error).toMatch(/^the core is unreachable: /);
      expect(dk.body.error).not.toMatch(/\n/);
      const unauth = await call(sock, 'POST', '/v1/datakey', { service: 'billing' });
      expect(unauth.status).toBe(401);
    } finally {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
