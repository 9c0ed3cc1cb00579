import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { L1Error, SOFTWARE_BLOB_V1, SoftwareL1Provider } from '../../src/hsm/software.ts';
import { runL1ProviderContract } from './contract.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'openkcm-l1-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

runL1ProviderContract('software', async () => ({ provider: await SoftwareL1Provider.open(join(tempDir(), 'l1.key')) }));

describe('SoftwareL1Provider', () => {
  it('creates an absent key file with mode 0600 in a 0700 directory, 64 hex digits', async () => {
    const dir = tempDir();
    const path = join(dir, 'sub', 'l1.key');
    const l1 = await SoftwareL1Provider.open(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700);
    expect(readFileSync(path, 'latin1')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(l1.describe()).toEqual({ provider: 'software', keyRef: path, developmentOnly: true });
  });

  it('reuses an existing key file: a blob from one instance opens in the next', async () => {
    const path = join(tempDir(), 'l1.key');
    const a = await SoftwareL1Provider.open(path);
    const blob = await a.wrap(Buffer.from('payload'), 'ctx');
    await a.close();
    const b = await SoftwareL1Provider.open(path);
    expect((await b.unwrap(blob, 'ctx')).toString()).toBe('payload');
  });

  it('two instances opening a fresh path together agree on one key', async () => {
    const path = join(tempDir(), 'race.key');
    const [a, b] = await Promise.all([SoftwareL1Provider.open(path), SoftwareL1Provider.open(path)]);
    expect((await b.unwrap(await a.wrap(Buffer.from('x'), 'c'), 'c')).toString()).toBe('x');
  });

  it('blob layout is version | 96-bit nonce | 128-bit tag | ciphertext', async () => {
    const l1 = await SoftwareL1Provider.open(join(tempDir(), 'l1.key'));
    const blob = await l1.wrap(Buffer.alloc(32, 9), 'ctx');
    expect(blob[0]).toBe(SOFTWARE_BLOB_V1);
    expect(blob.length).toBe(1 + 12 + 16 + 32);
    const v2 = Buffer.from(blob);
    v2[0] = 0x02;
    await expect(l1.unwrap(v2, 'ctx')).rejects.toThrow(/unknown format version 2/);
    await expect(l1.unwrap(blob.subarray(0, 20), 'ctx')).rejects.toThrow(/shorter than its 29-byte header/);
    await expect(l1.unwrap(blob, 'other')).rejects.toThrow(/another context/);
  });

  it('refuses an existing key file that every user can read, saying how to fix it', async () => {
    const path = join(tempDir(), 'open.key');
    writeFileSync(path, 'ab'.repeat(32) + '\n', { mode: 0o644 });
    chmodSync(path, 0o644);
    const err = await SoftwareL1Provider.open(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(L1Error);
    expect((err as Error).message).toContain('mode 0644');
    expect((err as Error).message).toContain(`chmod 600 ${path}`);
    chmodSync(path, 0o600);
    await expect(SoftwareL1Provider.open(path)).resolves.toBeInstanceOf(SoftwareL1Provider);
  });

  it('refuses a key file that does not hold a 256-bit hex key, without echoing its content', async () => {
    const dir = tempDir();
    for (const [i, content] of ['abcd\n', 'zz'.repeat(32), 'ab'.repeat(33), ''].entries()) {
      const path = join(dir, `bad${i}.key`);
      writeFileSync(path, content, { mode: 0o600 });
      const err = await SoftwareL1Provider.open(path).catch((e: unknown) => e);
      expect(err, JSON.stringify(content)).toBeInstanceOf(L1Error);
      expect((err as Error).message).toMatch(/256-bit key/);
      if (content.length > 0) expect((err as Error).message).not.toContain(content.trim());
    }
  });

  it('status: revoked when the key file is deleted, and wrap/unwrap stop working', async () => {
    const path = join(tempDir(), 'l1.key');
    const l1 = await SoftwareL1Provider.open(path);
    const blob = await l1.wrap(Buffer.from('k'), 'c');
    unlinkSync(path);
    const st = await l1.status();
    expect(st.state).toBe('revoked');
    expect(st.state !== 'active' && st.detail).toMatch(/is gone/);
    await expect(l1.unwrap(blob, 'c')).rejects.toThrow(/is gone/);
    await expect(l1.wrap(Buffer.from('k'), 'c')).rejects.toThrow(L1Error);
  });

  it('status: revoked when the key file now holds another key', async () => {
    const path = join(tempDir(), 'l1.key');
    const l1 = await SoftwareL1Provider.open(path);
    writeFileSync(path, 'cd'.repeat(32) + '\n', { mode: 0o600 });
    const st = await l1.status();
    expect(st).toMatchObject({ state: 'revoked' });
    expect(st.state !== 'active' && st.detail).toMatch(/different key/);
  });

  it('status: unreachable when the key file became world-readable or is a directory', async () => {
    const dir = tempDir();
    const path = join(dir, 'l1.key');
    const l1 = await SoftwareL1Provider.open(path);
    chmodSync(path, 0o604);
    expect(await l1.status()).toMatchObject({ state: 'unreachable' });
    chmodSync(path, 0o600);
    expect(await l1.status()).toEqual({ state: 'active' });
    unlinkSync(path);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path);
    expect(await l1.status()).toMatchObject({ state: 'unreachable', detail: expect.stringMatching(/not a regular file|cannot be opened/) });
  });

  it('after close, wrap fails and status is not active', async () => {
    const l1 = await SoftwareL1Provider.open(join(tempDir(), 'l1.key'));
    await l1.close();
    await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toThrow(/closed/);
    expect((await l1.status()).state).not.toBe('active');
  });
});
