// The Suite B TLS profiles (issue 13 §3; RFC 6460 §3.1/§3.2/§4; KMIP Suite B minLOS_128 and
// minLOS_192, vectors SUITEB_128/192-M-1-14): a real listener per profile, `openssl s_client`
// as the client. Inside the profile the handshake succeeds (and KMIP is served); outside it
// (another cipher suite, another curve, TLS 1.3 suites of the wrong strength) it fails; a
// server certificate of the wrong key type is refused at start with one line.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Operation, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { KmipClient } from '../../src/client/index.ts';
import { createCa, ensureDevPki, issueLeaf, type IssuedCertificate } from '../../src/server/devpki.ts';
import { startServer, type RunningServer } from '../../src/server/listener.ts';
import { openRuntime, type Runtime } from '../../src/server/runtime.ts';
import { checkCertificateForProfile, tlsProfileOptions, TLS_PROFILES, TlsProfileError } from '../../src/server/tls-profile.ts';
import { TLS_PROFILE_NAMES } from '../../src/config/index.ts';
import { silentLogger } from '../../src/log/index.ts';
import { OPENKCM } from '../helpers/cli.ts';

interface Pki { ca: string; server: IssuedCertificate; client: IssuedCertificate }
const pki: Record<'p256' | 'p384' | 'rsa', Pki> = {} as never;
let dir: string;
let rt: Runtime;
const servers: RunningServer[] = [];
const ports: Record<string, number> = {};

async function makePki(alg: 'ec-p256' | 'ec-p384' | 'rsa-2048'): Promise<Pki> {
  const ca = await createCa(`Suite B test CA ${alg}`, alg);
  return {
    ca: ca.certPem,
    server: await issueLeaf(ca, 'server', 'localhost', { names: ['localhost', '127.0.0.1'], alg }),
    client: await issueLeaf(ca, 'client', `suiteb-client-${alg}`, { alg }),
  };
}

beforeAll(async () => {
  pki.p256 = await makePki('ec-p256');
  pki.p384 = await makePki('ec-p384');
  pki.rsa = await makePki('rsa-2048');
  dir = mkdtempSync(join(tmpdir(), 'suiteb-'));
  for (const [k, p] of Object.entries(pki)) {
    writeFileSync(join(dir, `${k}-ca.crt`), p.ca);
    writeFileSync(join(dir, `${k}-client.crt`), p.client.certPem);
    writeFileSync(join(dir, `${k}-client.key`), p.client.keyPem);
  }
  rt = await openRuntime({ logger: silentLogger() });
  const start = async (name: string, p: Pki, profile: 'none' | 'suiteb-128' | 'suiteb-192', protocol: 'ttlv' | 'https' = 'ttlv') => {
    const s = await startServer({ listen: { host: '127.0.0.1', port: 0 }, protocol, tls: { ca: p.ca, cert: p.server.certPem, key: p.server.keyPem, profile } }, rt);
    servers.push(s);
    ports[name] = s.address().port;
  };
  await start('none', pki.p256, 'none');
  await start('b128', pki.p256, 'suiteb-128');
  await start('b128-p384', pki.p384, 'suiteb-128');
  await start('b192', pki.p384, 'suiteb-192');
  await start('b192-https', pki.p384, 'suiteb-192', 'https');
}, 120_000);
afterAll(async () => {
  for (const s of servers) await s.close(500);
  await rt?.close();
});

/** `openssl s_client -brief` against a port: what was negotiated, or that it failed. */
function sClient(port: number, who: 'p256' | 'p384' | 'rsa', args: string[]): Promise<{ ok: boolean; cipher?: string; protocol?: string; tempKey?: string; out: string }> {
  return new Promise((resolve) => {
    const child = execFile('openssl', [
      's_client', '-brief', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost',
      '-CAfile', join(dir, `${who}-ca.crt`), '-cert', join(dir, `${who}-client.crt`), '-key', join(dir, `${who}-client.key`), '-verify_return_error', ...args,
    ], { timeout: 60_000 }, (err, stdout, stderr) => {
      const out = `${stdout}\n${stderr}`;
      const line = (label: string) => new RegExp(`^${label}: (.*)$`, 'm').exec(out)?.[1]?.trim();
      resolve({ ok: !err && out.includes('CONNECTION ESTABLISHED'), cipher: line('Ciphersuite'), protocol: line('Protocol version'), tempKey: line('(?:Server )?Temp Key'), out });
    });
    child.stdin?.end();
  });
}

describe('the profile table', () => {
  it('has the names the configuration accepts', () => {
    expect([...TLS_PROFILES]).toEqual([...TLS_PROFILE_NAMES]);
    expect(tlsProfileOptions('none')).toEqual({});
    expect(tlsProfileOptions('suiteb-192')).toEqual({ ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384:TLS_AES_256_GCM_SHA384', ecdhCurve: 'P-384', sigalgs: 'ecdsa_secp384r1_sha384' });
  });
});

describe('server certificate check at start', () => {
  it('accepts the key types of each profile', () => {
    expect(() => checkCertificateForProfile('suiteb-128', pki.p256.server.certPem, pki.p256.server.keyPem)).not.toThrow();
    expect(() => checkCertificateForProfile('suiteb-128', pki.p384.server.certPem, pki.p384.server.keyPem)).not.toThrow();
    expect(() => checkCertificateForProfile('suiteb-192', pki.p384.server.certPem, pki.p384.server.keyPem)).not.toThrow();
    expect(() => checkCertificateForProfile('none', pki.rsa.server.certPem, pki.rsa.server.keyPem)).not.toThrow();
  });

  it('refuses an RSA certificate, a P-256 one for the 192-bit profile and a key of another curve, in one line', () => {
    const msg = (f: () => void) => { try { f(); } catch (e) { expect(e).toBeInstanceOf(TlsProfileError); return (e as Error).message; } return 'accepted'; };
    expect(msg(() => checkCertificateForProfile('suiteb-128', pki.rsa.server.certPem, pki.rsa.server.keyPem)))
      .toBe('tls.profile suiteb-128: the server certificate has a RSA key; Suite B minLOS 128 (RFC 6460 §3.1) needs an ECDSA key on P-256 or P-384');
    expect(msg(() => checkCertificateForProfile('suiteb-192', pki.p256.server.certPem, pki.p256.server.keyPem)))
      .toBe('tls.profile suiteb-192: the server certificate\'s ECDSA key is on P-256; Suite B minLOS 192 (RFC 6460 §3.2) needs P-384');
    expect(msg(() => checkCertificateForProfile('suiteb-128', pki.p384.server.certPem, pki.p256.server.keyPem)))
      .toBe('tls.profile suiteb-128: the server private key (P-256) does not match the certificate\'s ECDSA key on P-384');
  });

  it('startServer refuses to listen with such a certificate', async () => {
    await expect(startServer({ listen: { host: '127.0.0.1', port: 0 }, tls: { ca: pki.rsa.ca, cert: pki.rsa.server.certPem, key: pki.rsa.server.keyPem, profile: 'suiteb-192' } }, rt))
      .rejects.toThrow(/^tls\.profile suiteb-192: the server certificate has a RSA key/);
  });
});

describe('handshakes with openssl s_client', () => {
  it('suiteb-128: ECDHE-ECDSA-AES128-GCM-SHA256 on P-256, TLS 1.2 and 1.3; the 192-bit suite on P-384 too', async () => {
    const a = await sClient(ports.b128!, 'p256', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256', '-groups', 'P-256']);
    expect(a.ok, a.out).toBe(true);
    expect(a).toMatchObject({ protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    expect(a.tempKey).toMatch(/ECDH, (P-256|prime256v1)/);
    const b = await sClient(ports.b128!, 'p256', ['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256', '-groups', 'P-256']);
    expect(b.ok, b.out).toBe(true);
    expect(b).toMatchObject({ protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' });
    // RFC 6460 §3.1: a minLOS-128 server also accepts the 192-bit combination.
    const c = await sClient(ports['b128-p384']!, 'p384', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES256-GCM-SHA384', '-groups', 'P-384']);
    expect(c.ok, c.out).toBe(true);
    expect(c.cipher).toBe('ECDHE-ECDSA-AES256-GCM-SHA384');
  });

  // Offers outside each profile. Each is also made to the server without a profile (same
  // P-256 certificate), which accepts it: the refusal is the profile's, not the offer's.
  // Curves are tested over TLS 1.3, where key-share groups and the certificate's curve are
  // separate (in TLS 1.2 a client's group list also limits the ECDSA certificates it accepts).
  const OUTSIDE_128 = [
    ['-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
    ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA256'], // CBC, not GCM
    ['-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256'],
    ['-tls1_3', '-groups', 'X25519'],
    ['-tls1_3', '-groups', 'P-521'],
  ];
  const OUTSIDE_192 = [
    ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256'], // the 128-bit suite
    ['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256'],
    ['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384', '-groups', 'P-256'], // the 128-bit curve
    ['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384', '-groups', 'X25519'],
  ];

  it('suiteb-128 refuses other suites and other curves', async () => {
    for (const args of OUTSIDE_128) {
      const r = await sClient(ports.b128!, 'p256', args);
      expect(r.ok, `${args.join(' ')} was accepted:\n${r.out}`).toBe(false);
    }
    // Offered X25519 first and P-256 second, the profile's server takes P-256.
    const pick = await sClient(ports.b128!, 'p256', ['-tls1_2', '-groups', 'X25519:P-256']);
    expect(pick.ok, pick.out).toBe(true);
    expect(pick.tempKey).toMatch(/ECDH, (P-256|prime256v1)/);
  });

  it('suiteb-192: only ECDHE-ECDSA-AES256-GCM-SHA384 on P-384 (TLS 1.3: TLS_AES_256_GCM_SHA384)', async () => {
    const a = await sClient(ports.b192!, 'p384', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES256-GCM-SHA384', '-groups', 'P-384']);
    expect(a.ok, a.out).toBe(true);
    expect(a).toMatchObject({ protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES256-GCM-SHA384' });
    expect(a.tempKey).toMatch(/ECDH, (P-384|secp384r1)/);
    const b = await sClient(ports.b192!, 'p384', ['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384', '-groups', 'P-384']);
    expect(b.ok, b.out).toBe(true);
    expect(b.cipher).toBe('TLS_AES_256_GCM_SHA384');
    for (const args of OUTSIDE_192) {
      const r = await sClient(ports.b192!, 'p384', args);
      expect(r.ok, `${args.join(' ')} was accepted:\n${r.out}`).toBe(false);
    }
  });

  it('the profile applies to the HTTPS port too', async () => {
    expect((await sClient(ports['b192-https']!, 'p384', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES256-GCM-SHA384'])).ok).toBe(true);
    expect((await sClient(ports['b192-https']!, 'p384', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256'])).ok).toBe(false);
  });

  it('without a profile every one of those offers is accepted (the refusals are the profile\'s)', async () => {
    for (const args of [...OUTSIDE_128, ...OUTSIDE_192]) {
      const r = await sClient(ports.none!, 'p256', args);
      expect(r.ok, `${args.join(' ')} was refused without a profile:\n${r.out}`).toBe(true);
    }
    const pick = await sClient(ports.none!, 'p256', ['-tls1_2', '-groups', 'X25519:P-256']);
    expect(pick.tempKey).toMatch(/X25519/);
  });

  it('KMIP is served inside the 192-bit profile (Node\'s client with a P-384 certificate)', async () => {
    const c = await KmipClient.connect({ host: '127.0.0.1', port: ports.b192!, ca: pki.p384.ca, cert: pki.p384.client.certPem, key: pki.p384.client.keyPem, servername: 'localhost' });
    try {
      expect((await c.requestItem(Operation.DiscoverVersions)).resultStatus).toBe(ResultStatus.Success);
    } finally {
      await c.close();
    }
  });
});

describe('openkcm serve --tls-profile', () => {
  function run(args: string[], cwd: string) {
    const child = spawn(process.execPath, [OPENKCM, ...args], { cwd, env: { PATH: process.env.PATH ?? '', OPENKCM_WORKERS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, out: () => stdout, err: () => stderr };
  }

  it('refuses the P-256 development PKI under suiteb-192 with one line and exit 2', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'suiteb-cli-'));
    await ensureDevPki(join(cwd, 'certs'));
    const p = run(['serve', '--listen', '127.0.0.1:0', '--data', 'data', '--certs', 'certs', '--tls-profile', 'suiteb-192', '--admin-listen', '127.0.0.1:0'], cwd);
    expect(await p.exited).toBe(2);
    expect(p.err().trim().split('\n').filter((l) => l.startsWith('openkcm:'))).toEqual([
      'openkcm: tls.profile suiteb-192: the server certificate\'s ECDSA key is on P-256; Suite B minLOS 192 (RFC 6460 §3.2) needs P-384',
    ]);
    expect(p.err()).not.toMatch(/\n\s+at /);
  }, 120_000);

  it('a fresh directory gets a P-384 development PKI and serves TTLV and HTTPS inside suiteb-192', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'suiteb-cli-'));
    const p = run(['serve', '--listen', '127.0.0.1:0', '--data', 'data', '--certs', 'certs', '--tls-profile', 'suiteb-192', '--https-listen', '127.0.0.1:0'], cwd);
    try {
      const end = Date.now() + 120_000;
      while (!p.err().includes('KMIP over HTTPS: POST https://')) {
        if (Date.now() > end || p.child.exitCode !== null) throw new Error(`serve did not start:\n${p.out()}\n${p.err()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const listening = p.out().split('\n').filter((l) => l.includes('"event":"listening"')).map((l) => JSON.parse(l) as { port: number; protocol: string; tlsProfile: string });
      const ttlvPort = listening.find((l) => l.protocol === 'ttlv')!.port;
      const httpsPort = listening.find((l) => l.protocol === 'https')!.port;
      expect(listening.every((l) => l.tlsProfile === 'suiteb-192')).toBe(true);
      expect(p.err()).toContain(`KMIP over HTTPS: POST https://127.0.0.1:${httpsPort}/kmip`);
      expect(p.err()).toContain('TLS profile suiteb-192');
      const certs = join(cwd, 'certs');
      const { X509Certificate } = await import('node:crypto');
      expect(new X509Certificate(readFileSync(join(certs, 'server.crt'))).publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
      const s = (port: number, cipher: string) => new Promise<boolean>((resolve) => {
        const c = execFile('openssl', ['s_client', '-brief', '-connect', `127.0.0.1:${port}`, '-CAfile', join(certs, 'ca.crt'), '-cert', join(certs, 'client.crt'), '-key', join(certs, 'client.key'),
          '-tls1_2', '-cipher', cipher], { timeout: 60_000 }, (err, so, se) => resolve(!err && `${so}${se}`.includes('CONNECTION ESTABLISHED')));
        c.stdin?.end();
      });
      for (const port of [ttlvPort, httpsPort]) {
        expect(await s(port, 'ECDHE-ECDSA-AES256-GCM-SHA384')).toBe(true);
        expect(await s(port, 'ECDHE-ECDSA-AES128-GCM-SHA256')).toBe(false);
      }
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
    }
  }, 180_000);
});
