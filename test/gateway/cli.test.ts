// `openkcm gateway` refuses bad input with one line and exit 2 (no stack trace).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, OPENKCM, run } from '../admin/serve.ts';
import { ensureDevPki } from '../../src/server/devpki.ts';

describe('openkcm gateway usage errors', () => {
  it('says what is wrong and how to fix it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-gw-cli-'));
    try {
      const { files } = await ensureDevPki(join(dir, 'certs'));
      const gw = (args: string[]) => run(OPENKCM, ['gateway', ...args], { cwd: dir, env: cleanEnv(), timeoutMs: 60_000 });
      const noCore = await gw([]);
      expect(noCore.code).toBe(2);
      expect(noCore.stderr.trim()).toBe('openkcm gateway: --core HOST:PORT (the KMIP address of openkcm serve or core) is required');
      // The development client certificate carries no gateway identity.
      const tokens = join(dir, 'tokens');
      writeFileSync(tokens, `app ${'b'.repeat(40)}\n`);
      const notGw = await gw(['--core', '127.0.0.1:5696', '--cert', files.clientCert, '--key', files.clientKey, '--ca', files.caCert, '--token-file', tokens]);
      expect(notGw.code).toBe(2);
      expect(notGw.stderr).toMatch(/^openkcm gateway: .*kmipctl cert issue --role gateway/);
      expect(notGw.stderr).not.toMatch(/\n\s+at /);
      writeFileSync(tokens, 'app short\n');
      const badToken = await gw(['--core', 'nowhere', '--cert', files.clientCert, '--key', files.clientKey, '--ca', files.caCert, '--token-file', tokens]);
      expect(badToken.code).toBe(2);
      expect(badToken.stderr).toMatch(/--core nowhere is not HOST:PORT/);
      writeFileSync(tokens, `app ${'b'.repeat(40)}\n`);
      const exposed = await gw(['--core', '127.0.0.1:5696', '--cert', files.clientCert, '--key', files.clientKey, '--ca', files.caCert, '--token-file', tokens, '--listen', '0.0.0.0:8100']);
      expect(exposed.code).toBe(2);
      expect(exposed.stderr).toMatch(/listens on 127\.0\.0\.1, ::1 or unix:\/path only/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
