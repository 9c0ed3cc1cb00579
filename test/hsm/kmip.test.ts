// The kmip L1 provider against REAL KMIP servers started by the test: PyKMIP's server
// (Debian python3-pykmip 0.10, a third-party implementation) and a second OpenKCM
// (`openkcm serve` as a child process). The "customer console" (kmip-console.ts) creates the
// root key there and revokes or destroys it behind the provider's back.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KMIP_L1_BLOB_V1, KmipL1Provider, aadFor, type KmipL1Options } from '../../src/hsm/kmip.ts';
import { L1Error } from '../../src/hsm/errors.ts';
import { ensureDevPki } from '../../certs/devpki.ts';
import { RevocationReasonCode } from '../../src/ttlv/generated/enumerations.ts';
import { runL1ProviderContract } from './contract.ts';
import { KmipConsole, type KmipConsoleTarget } from './kmip-console.ts';
import { startOpenKcmChild, type OpenKcmChild } from './openkcm-serve.ts';
import { pykmipAvailable, startPyKmipServer, type PyKmipServer } from './pykmip-server.ts';

// Generous: PyKMIP answers in milliseconds, but the machine running the suite is loaded.
const CALL_TIMEOUT_MS = 15_000;
const havePyKmip = pykmipAvailable();

describe.skipIf(!havePyKmip)('kmip L1 provider against PyKMIP 0.10', () => {
  let server: PyKmipServer;
  let target: KmipConsoleTarget;
  let admin: KmipConsole;
  const open: KmipL1Provider[] = [];
  const track = (p: KmipL1Provider) => (open.push(p), p);
  const options = (key: { keyUid: string } | { keyName: string }, extra: Partial<KmipL1Options> = {}): KmipL1Options => ({
    ...target,
    ...key,
    timeoutMs: CALL_TIMEOUT_MS,
    ...extra,
  });

  beforeAll(async () => {
    server = await startPyKmipServer();
    target = { host: server.host, port: server.port, caFile: server.pki.caCert, certFile: server.pki.clientCert, clientKeyFile: server.pki.clientKey };
    admin = await KmipConsole.connect(target);
  }, 60_000);
  afterAll(async () => {
    for (const p of open) await p.close();
    await admin?.close();
    await server?.stop();
  });

  runL1ProviderContract(
    'kmip (PyKMIP server)',
    async () => {
      const uid = await admin.createRootKey();
      return { provider: await KmipL1Provider.open(options({ keyUid: uid })), revokeKey: () => admin.revokeAndDestroy(uid) };
    },
    { revoke: true },
  );

  it('binds the context as GCM AAD on the server: another context fails, the blob holds the server IV and tag', async () => {
    const uid = await admin.createRootKey();
    const l1 = track(await KmipL1Provider.open(options({ keyUid: uid })));
    const blob = await l1.wrap(Buffer.alloc(32, 9), 'tenant:acme/l2/v1');
    expect(blob[0]).toBe(KMIP_L1_BLOB_V1);
    expect(blob[1]).toBe(16); // PyKMIP draws a block-size IV
    expect(blob[2 + 16]).toBe(16); // full GCM tag
    expect(blob.length).toBe(1 + 1 + 16 + 1 + 16 + 32);
    const err = await l1.unwrap(blob, 'tenant:other').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(L1Error);
    expect((err as Error).message).toMatch(/^kmip: unwrap failed \(GeneralFailure\): the blob was altered, made under another key, or bound to another context$/);
    expect((err as L1Error).status).toBeUndefined();
    expect(aadFor('')).toEqual(Buffer.from('openkcm-l1-context:'));
    expect(l1.describe()).toEqual({ provider: 'kmip', keyRef: `kmip://${server.host}:${server.port}/${uid}`, developmentOnly: false });
  });

  it('finds the key by Name (Locate) and unwraps what the Unique Identifier provider wrapped', async () => {
    const uid = await admin.createRootKey({ name: 'openkcm-root-by-name' });
    const byUid = track(await KmipL1Provider.open(options({ keyUid: uid })));
    const byName = track(await KmipL1Provider.open(options({ keyName: 'openkcm-root-by-name' })));
    expect(await byName.status()).toEqual({ state: 'active' });
    expect(await byName.unwrap(await byUid.wrap(Buffer.from('by name'), 'c'), 'c')).toEqual(Buffer.from('by name'));
    const none = track(await KmipL1Provider.open(options({ keyName: 'no-such-key' })));
    expect(await none.status()).toMatchObject({ state: 'revoked', detail: expect.stringMatching(/no key named "no-such-key"/) });
  });

  it('a blob of another key does not unwrap', async () => {
    const a = track(await KmipL1Provider.open(options({ keyUid: await admin.createRootKey() })));
    const b = track(await KmipL1Provider.open(options({ keyUid: await admin.createRootKey() })));
    await expect(b.unwrap(await a.wrap(Buffer.from('x'), 'c'), 'c')).rejects.toThrow(/unwrap failed/);
  });

  it('Revoke (Deactivated) → disabled, Revoke with Key Compromise → disabled, Destroy → revoked; unwrap refused each time', async () => {
    const uid = await admin.createRootKey();
    const l1 = track(await KmipL1Provider.open(options({ keyUid: uid })));
    const blob = await l1.wrap(Buffer.alloc(32, 5), 'ctx');
    await admin.revoke(uid);
    expect(await l1.status()).toEqual({ state: 'disabled', detail: `kmip: key ${uid} at ${server.host}:${server.port} is Deactivated` });
    // PyKMIP would still decrypt with a Deactivated key; the provider refuses before asking.
    await expect(l1.unwrap(blob, 'ctx')).rejects.toMatchObject({ status: 'disabled', message: expect.stringMatching(/is Deactivated; Decrypt refused$/) });
    await expect(l1.wrap(Buffer.alloc(32), 'ctx')).rejects.toMatchObject({ status: 'disabled' });
    await admin.revoke(uid, RevocationReasonCode.KeyCompromise);
    expect(await l1.status()).toMatchObject({ state: 'disabled', detail: expect.stringMatching(/is Compromised$/) });
    await admin.destroy(uid);
    expect(await l1.status()).toMatchObject({ state: 'revoked', detail: expect.stringMatching(/does not exist .*Item Not Found/) });
    await expect(l1.unwrap(blob, 'ctx')).rejects.toMatchObject({ status: 'revoked' });
  });

  it('a Pre-Active key is disabled until the customer activates it', async () => {
    const uid = await admin.createRootKey({ activate: false });
    const l1 = track(await KmipL1Provider.open(options({ keyUid: uid })));
    expect(await l1.status()).toMatchObject({ state: 'disabled', detail: expect.stringMatching(/is PreActive$/) });
    await expect(l1.wrap(Buffer.alloc(32), 'c')).rejects.toMatchObject({ status: 'disabled' });
    await admin.activate(uid);
    expect(await l1.status()).toEqual({ state: 'active' });
    expect(await l1.unwrap(await l1.wrap(Buffer.alloc(32, 1), 'c'), 'c')).toEqual(Buffer.alloc(32, 1));
  });

  it('the server down: unreachable at once; back up: the provider reconnects', async () => {
    const uid = await admin.createRootKey();
    const l1 = track(await KmipL1Provider.open(options({ keyUid: uid })));
    const blob = await l1.wrap(Buffer.from('before'), 'c');
    await server.halt();
    try {
      const st = await l1.status();
      // Refused, reset or closed, depending on where the old connection was when PyKMIP stopped.
      expect(st).toMatchObject({ state: 'unreachable', detail: expect.stringContaining(`${server.host}:${server.port}`) });
      await expect(l1.unwrap(blob, 'c')).rejects.toMatchObject({ status: 'unreachable' });
    } finally {
      await server.resume();
      await admin.close();
      admin = await KmipConsole.connect(target);
    }
    expect(await l1.status()).toEqual({ state: 'active' });
    expect((await l1.unwrap(blob, 'c')).toString()).toBe('before');
  });

  it('a client identity the server does not let use the key (Permission Denied): disabled', async () => {
    // A second client certificate from the same CA, another common name: PyKMIP makes the
    // creator the owner, and its default policy denies every other identity.
    const uid = await admin.createRootKey();
    const key = join(server.dir, 'other.key');
    const csr = join(server.dir, 'other.csr');
    const crt = join(server.dir, 'other.crt');
    const ext = join(server.dir, 'other.ext');
    writeFileSync(ext, 'extendedKeyUsage=clientAuth\n');
    execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-subj', '/CN=another-tenant', '-out', csr], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', server.pki.caCert, '-CAkey', server.pki.caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', crt], { stdio: 'ignore' });
    const l1 = track(await KmipL1Provider.open(options({ keyUid: uid }, { certFile: crt, clientKeyFile: key })));
    const st = await l1.status();
    expect(st).toMatchObject({ state: 'disabled', detail: expect.stringMatching(/Get Attributes with key .* failed \(PermissionDenied/) });
    await expect(l1.wrap(Buffer.alloc(32), 'c')).rejects.toMatchObject({ status: 'disabled' });
  });

  it('refuses bad options naming the field, and secret values in configuration', async () => {
    const bad = async (o: unknown, re: RegExp) => expect(KmipL1Provider.open(o as KmipL1Options)).rejects.toThrow(re);
    await bad({ ...options({ keyUid: '1' }), clientKey: 'PEM' }, /^kmip\.clientKey: certificate, key and password values are not accepted/);
    await bad({ ...options({ keyUid: '1' }), host: '' }, /^kmip\.host: /);
    await bad({ ...options({ keyUid: '1' }), port: 70000 }, /^kmip\.port: /);
    await bad({ ...options({ keyUid: '1' }), keyName: 'x' }, /^kmip\.keyUid\/keyName: give exactly one/);
    await bad({ ...target, timeoutMs: 1000 }, /^kmip\.keyUid\/keyName: give exactly one/);
    await bad({ ...options({ keyUid: '1' }), caFile: '/nonexistent/ca.pem' }, /^kmip\.caFile: cannot read \/nonexistent\/ca.pem \(ENOENT\)/);
    await bad({ ...options({ keyUid: '1' }), timeoutMs: 0 }, /^kmip\.timeoutMs: /);
  });

  it('refuses what it cannot wrap and blobs it did not make, before any call', async () => {
    const l1 = track(await KmipL1Provider.open(options({ keyUid: await admin.createRootKey() })));
    await expect(l1.wrap(Buffer.alloc(0), 'c')).rejects.toThrow(/1 to 4096 bytes, not 0/);
    await expect(l1.wrap(Buffer.alloc(4097), 'c')).rejects.toThrow(/not 4097/);
    await expect(l1.unwrap(Buffer.of(0x31, 1, 2, 3), 'c')).rejects.toThrow(/unknown format byte 0x31/);
    await expect(l1.unwrap(Buffer.of(KMIP_L1_BLOB_V1, 16, 1), 'c')).rejects.toThrow(/truncated/);
  });

  it('after close: status unreachable and calls refused', async () => {
    const l1 = await KmipL1Provider.open(options({ keyUid: await admin.createRootKey() }));
    await l1.close();
    expect(await l1.status()).toEqual({ state: 'unreachable', detail: 'kmip: provider is closed' });
    await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toThrow(/closed/);
  });
});

describe('kmip L1 provider: deadline', () => {
  // A server that accepts TCP and never answers (not even the TLS handshake): a hung
  // appliance. Each call must give up after timeoutMs and report unreachable.
  let silent: Server;
  const sockets: Socket[] = [];
  let port = 0;
  beforeAll(async () => {
    silent = createServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined);
      s.resume();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    port = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  it('a silent server: unreachable within the configured timeout, for status, wrap and unwrap', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-kmip-silent-'));
    try {
      const { files } = await ensureDevPki(join(dir, 'pki'), { algorithm: 'ec-p256' });
      const l1 = await KmipL1Provider.open({ host: '127.0.0.1', port, keyUid: 'k', caFile: files.caCert, certFile: files.clientCert, clientKeyFile: files.clientKey, timeoutMs: 400 });
      try {
        const t0 = Date.now();
        const st = await l1.status();
        const took = Date.now() - t0;
        expect(st).toEqual({ state: 'unreachable', detail: `kmip: Get Attributes of k got no answer from 127.0.0.1:${port} within 400 ms` });
        // Bound with slack for a loaded 2-core machine: the deadline, not TCP's minutes.
        expect(took).toBeGreaterThanOrEqual(350);
        expect(took).toBeLessThan(3000);
        await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toMatchObject({ status: 'unreachable' });
        await expect(l1.unwrap(Buffer.concat([Buffer.of(KMIP_L1_BLOB_V1, 12), Buffer.alloc(12), Buffer.of(16), Buffer.alloc(17)]), 'c')).rejects.toMatchObject({ status: 'unreachable' });
        // The abandoned connection attempts are closed, not left open until TCP gives up.
        const until = Date.now() + 10_000;
        while (sockets.some((x) => !x.destroyed && !x.closed) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        expect(sockets.length).toBeGreaterThanOrEqual(3);
        expect(sockets.filter((x) => !x.destroyed && !x.closed)).toEqual([]);
      } finally {
        await l1.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kmip L1 provider against a second OpenKCM (`openkcm serve`)', () => {
  let peer: OpenKcmChild;
  let admin: KmipConsole;
  const options = (keyUid: string): KmipL1Options => ({
    host: peer.host,
    port: peer.port,
    servername: peer.servername,
    keyUid,
    caFile: peer.caFile,
    certFile: peer.certFile,
    clientKeyFile: peer.clientKeyFile,
    timeoutMs: CALL_TIMEOUT_MS,
  });
  beforeAll(async () => {
    peer = await startOpenKcmChild();
    admin = await KmipConsole.connect(peer);
  }, 90_000);
  afterAll(async () => {
    await admin?.close();
    await peer?.stop();
  });

  runL1ProviderContract(
    'kmip (second OpenKCM)',
    async () => {
      const uid = await admin.createRootKey();
      return { provider: await KmipL1Provider.open(options(uid)), revokeKey: () => admin.revokeAndDestroy(uid) };
    },
    { revoke: true },
  );

  it('Revoke → disabled, Destroy → revoked, as on PyKMIP', async () => {
    const uid = await admin.createRootKey();
    const l1 = await KmipL1Provider.open(options(uid));
    try {
      const blob = await l1.wrap(Buffer.alloc(32, 6), 'tenant:t');
      expect(await l1.unwrap(blob, 'tenant:t')).toEqual(Buffer.alloc(32, 6));
      await admin.revoke(uid);
      expect(await l1.status()).toMatchObject({ state: 'disabled', detail: expect.stringMatching(/is Deactivated$/) });
      await expect(l1.unwrap(blob, 'tenant:t')).rejects.toMatchObject({ status: 'disabled' });
      await admin.destroy(uid);
      expect((await l1.status()).state).toBe('revoked');
    } finally {
      await l1.close();
    }
  });
});
