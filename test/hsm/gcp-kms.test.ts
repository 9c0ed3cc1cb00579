// The gcp-kms L1 provider: the real @google-cloud/kms SDK (REST transport) against
// test/hsm/gcp-kms-endpoint.ts, a local endpoint following Cloud KMS's documented REST API
// (see its header for what it does not check). The SDK authenticates with a generated
// service-account key whose self-signed JWTs the endpoint verifies, so nothing leaves the
// machine. The customer's side (creating, rotating, disabling, destroying keys) is the same
// SDK with an admin service account. An opt-in live test at the end runs against real Cloud
// KMS when OPENKCM_GCP_KMS_KEY is set.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../../src/crypto/crc32c.ts';
import { L1Error } from '../../src/hsm/errors.ts';
import { GCP_KMS_BLOB_V1, GcpKmsL1Provider, rpcError, type GcpKmsL1Options } from '../../src/hsm/gcp-kms.ts';
import { openL1Provider, parseL1Config } from '../../src/hsm/index.ts';
import { runL1ProviderContract } from './contract.ts';
import { GcpKmsEndpoint, type ServiceAccountKey } from './gcp-kms-endpoint.ts';

// Application Default Credentials must never probe a metadata server from a test.
process.env.METADATA_SERVER_DETECTION = 'none';

const RING = 'projects/openkcm-test/locations/europe-west3/keyRings/openkcm';
const kms = new GcpKmsEndpoint();
const dir = mkdtempSync(join(tmpdir(), 'openkcm-gcp-test-'));
let admin: KeyManagementServiceClient;
let user: ServiceAccountKey;
let saFile: string;
let keyCounter = 0;

beforeAll(async () => {
  await kms.start();
  admin = new KeyManagementServiceClient({
    fallback: true, apiEndpoint: '127.0.0.1', port: Number(new URL(kms.url).port), protocol: 'http', credentials: kms.addServiceAccount('customer-admin') as never,
  });
  await admin.createKeyRing({ parent: 'projects/openkcm-test/locations/europe-west3', keyRingId: 'openkcm', keyRing: {} });
  user = kms.addServiceAccount('openkcm-l1');
  saFile = join(dir, 'sa.json');
  writeFileSync(saFile, JSON.stringify(user), { mode: 0o600 });
});
afterAll(async () => {
  await admin?.close();
  await kms.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The customer's side: a new symmetric key (version 1 primary), as `gcloud kms keys create` makes it. */
async function createKey(purpose: 'ENCRYPT_DECRYPT' | 'ASYMMETRIC_DECRYPT' = 'ENCRYPT_DECRYPT'): Promise<string> {
  const [k] = await admin.createCryptoKey({
    parent: RING, cryptoKeyId: `root-${++keyCounter}`,
    cryptoKey: purpose === 'ENCRYPT_DECRYPT' ? { purpose, versionTemplate: { algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION' } } : { purpose, versionTemplate: { algorithm: 'RSA_DECRYPT_OAEP_3072_SHA256' } },
  });
  return k.name!;
}
const setState = (versionName: string, state: 'ENABLED' | 'DISABLED') =>
  admin.updateCryptoKeyVersion({ cryptoKeyVersion: { name: versionName, state }, updateMask: { paths: ['state'] } });
const options = (keyName: string, extra: Partial<GcpKmsL1Options> = {}): GcpKmsL1Options => ({ keyName, endpoint: kms.url, credentialsFile: saFile, timeoutMs: 5000, ...extra });

runL1ProviderContract('gcp-kms', async () => {
  const keyName = await createKey();
  const v1 = `${keyName}/cryptoKeyVersions/1`;
  return {
    provider: await GcpKmsL1Provider.open(options(keyName)),
    // "Destroy" in the console: the version is DESTROY_SCHEDULED at once, unusable from then on.
    revokeKey: async () => void (await admin.destroyCryptoKeyVersion({ name: v1 })),
    disableKey: async () => void (await setState(v1, 'DISABLED')),
    enableKey: async () => void (await setState(v1, 'ENABLED')),
  };
}, { revoke: true, disable: true });

describe('GcpKmsL1Provider', () => {
  const open: GcpKmsL1Provider[] = [];
  const track = (p: GcpKmsL1Provider) => (open.push(p), p);
  afterAll(async () => {
    for (const p of open) await p.close();
  });

  it('speaks Cloud KMS REST: :encrypt/:decrypt with the context as AAD and CRC32C checksums, as the service account (self-signed JWT)', async () => {
    const keyName = await createKey();
    const l1 = track(await GcpKmsL1Provider.open(options(keyName)));
    const before = kms.requests.length;
    const dek = Buffer.alloc(32, 9);
    const blob = await l1.wrap(dek, 'tenant:acme/l2/v1');
    expect(blob[0]).toBe(GCP_KMS_BLOB_V1);
    expect(blob.subarray(1, 3)).toEqual(Buffer.from([1, 0x31])); // version "1"
    expect(await l1.unwrap(blob, 'tenant:acme/l2/v1')).toEqual(dek);
    const seen = kms.requests.slice(before);
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual([`POST /v1/${keyName}:encrypt`, `POST /v1/${keyName}:decrypt`]);
    // The SDK's REST transport asks for numeric enums; the token is the service account's own JWT.
    expect(seen.every((r) => r.query.includes('enum-encoding=int') && r.principal === user.client_email)).toBe(true);
    const aad = Buffer.from('tenant:acme/l2/v1');
    expect(seen[0]!.body).toEqual({
      plaintext: dek.toString('base64'), additionalAuthenticatedData: aad.toString('base64'),
      plaintextCrc32c: String(crc32c(dek)), additionalAuthenticatedDataCrc32c: String(crc32c(aad)),
    });
    expect(seen[1]!.body).toMatchObject({ additionalAuthenticatedData: aad.toString('base64'), ciphertextCrc32c: String(crc32c(blob.subarray(3))) });
    expect(l1.describe()).toEqual({ provider: 'gcp-kms', keyRef: keyName, developmentOnly: false });
  });

  it("another context fails with KMS's INVALID_ARGUMENT named; the status stays active", async () => {
    const l1 = track(await GcpKmsL1Provider.open(options(await createKey())));
    const blob = await l1.wrap(Buffer.from('L2 of A'), 'tenant:A');
    const err = await l1.unwrap(blob, 'tenant:B').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(L1Error);
    expect((err as Error).message).toMatch(/^gcp-kms: unwrap failed \(Decrypt of .* failed \(INVALID_ARGUMENT: Decryption failed: the ciphertext is invalid\.\)\): the blob was altered, made under another key, or bound to another context$/);
    expect((err as L1Error).status).toBeUndefined();
    expect(await l1.status()).toEqual({ state: 'active' });
  });

  it('a blob of another CryptoKey is refused (Decrypt names our key; KMS answers "verify that name refers to the correct CryptoKey")', async () => {
    const a = track(await GcpKmsL1Provider.open(options(await createKey())));
    const b = track(await GcpKmsL1Provider.open(options(await createKey())));
    const blob = await a.wrap(Buffer.from('x'), 'c');
    await expect(b.unwrap(blob, 'c')).rejects.toThrow(/correct CryptoKey.*the blob was altered, made under another key/);
  });

  it('rotation at Google: new wraps use the new primary, blobs of the old version still open; disabling that old version is seen by status until its context is forgotten', async () => {
    const keyName = await createKey();
    const l1 = track(await GcpKmsL1Provider.open(options(keyName)));
    const [c1, c2] = ['l2|acme|1', 'l2|acme|2'];
    const old = await l1.wrap(Buffer.from('under v1'), c1);
    const [v2] = await admin.createCryptoKeyVersion({ parent: keyName, cryptoKeyVersion: {} });
    await admin.updateCryptoKeyPrimaryVersion({ name: keyName, cryptoKeyVersionId: '2' });
    const fresh = await l1.wrap(Buffer.from('under v2'), c2);
    expect(fresh.subarray(1, 3)).toEqual(Buffer.from([1, 0x32]));
    expect((await l1.unwrap(old, c1)).toString()).toBe('under v1');
    expect((await l1.unwrap(fresh, c2)).toString()).toBe('under v2');
    expect(await l1.status()).toEqual({ state: 'active' });

    // The customer disables version 1 (not the primary): a blob in use is under it, so the key is not usable for us.
    await setState(`${keyName}/cryptoKeyVersions/1`, 'DISABLED');
    expect(await l1.status()).toEqual({ state: 'disabled', detail: `gcp-kms: version ${keyName}/cryptoKeyVersions/1 is DISABLED` });
    await expect(l1.unwrap(old, c1)).rejects.toMatchObject({ status: 'disabled' });
    expect((await l1.unwrap(fresh, c2)).toString()).toBe('under v2');
    // The hierarchy replaced the blob of c1 (an L2 rotation): version 1 is no longer watched.
    l1.forgetContext(c1);
    expect(await l1.status()).toEqual({ state: 'active' });
    // A provider that has seen no blob of version 1 can judge the primary only (see gcp-kms.ts's header).
    const probe = track(await GcpKmsL1Provider.open(options(keyName)));
    expect(await probe.status()).toEqual({ state: 'active' });
    expect(v2.name).toBe(`${keyName}/cryptoKeyVersions/2`);
  });

  it('destroy: DESTROY_SCHEDULED (with its date) and DESTROYED are revoked; a restored version is DISABLED until enabled again', async () => {
    const keyName = await createKey();
    const v1 = `${keyName}/cryptoKeyVersions/1`;
    const l1 = track(await GcpKmsL1Provider.open(options(keyName)));
    const blob = await l1.wrap(Buffer.alloc(32, 5), 'c');
    const [scheduled] = await admin.destroyCryptoKeyVersion({ name: v1 });
    const when = new Date(Number(scheduled.destroyTime!.seconds) * 1000).toISOString();
    expect(await l1.status()).toEqual({ state: 'revoked', detail: `gcp-kms: primary version ${v1} is DESTROY_SCHEDULED (destruction scheduled for ${when})` });
    const err = await l1.unwrap(blob, 'c').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/FAILED_PRECONDITION: .*is not enabled, current state is: DESTROY_SCHEDULED/);
    expect((err as L1Error).status).toBe('revoked');
    await expect(l1.wrap(Buffer.alloc(32), 'c')).rejects.toMatchObject({ status: 'revoked' });

    await admin.restoreCryptoKeyVersion({ name: v1 });
    expect(await l1.status()).toMatchObject({ state: 'disabled', detail: expect.stringMatching(/is DISABLED$/) });
    await setState(v1, 'ENABLED');
    expect(await l1.unwrap(blob, 'c')).toEqual(Buffer.alloc(32, 5));

    await admin.destroyCryptoKeyVersion({ name: v1 });
    kms.completeDestruction(v1);
    expect(await l1.status()).toEqual({ state: 'revoked', detail: `gcp-kms: primary version ${v1} is DESTROYED` });
    await expect(l1.unwrap(blob, 'c')).rejects.toMatchObject({ status: 'revoked' });
  });

  it('a key that does not exist: revoked (NOT_FOUND); our service account losing its role: disabled (PERMISSION_DENIED), and back', async () => {
    const missing = track(await GcpKmsL1Provider.open(options(`${RING}/cryptoKeys/no-such-key`)));
    expect(await missing.status()).toMatchObject({ state: 'revoked', detail: expect.stringMatching(/GetCryptoKey of .* failed \(NOT_FOUND: CryptoKey .* not found\.\)/) });
    await expect(missing.wrap(Buffer.from('x'), 'c')).rejects.toMatchObject({ status: 'revoked' });

    const l1 = track(await GcpKmsL1Provider.open(options(await createKey())));
    const blob = await l1.wrap(Buffer.from('x'), 'c');
    kms.denyPermission(user.client_email, true);
    try {
      expect(await l1.status()).toMatchObject({ state: 'disabled', detail: expect.stringMatching(/PERMISSION_DENIED: Permission 'cloudkms\.cryptoKeyVersions\.useToEncrypt' denied/) });
      await expect(l1.unwrap(blob, 'c')).rejects.toMatchObject({ status: 'disabled' });
    } finally {
      kms.denyPermission(user.client_email, false);
    }
    expect(await l1.status()).toEqual({ state: 'active' });
  });

  it('a key that cannot bind a context (not ENCRYPT_DECRYPT), and version states without a public method here', async () => {
    const asym = track(await GcpKmsL1Provider.open(options(await createKey('ASYMMETRIC_DECRYPT'))));
    expect(await asym.status()).toMatchObject({ state: 'disabled', detail: expect.stringMatching(/has purpose ASYMMETRIC_DECRYPT; a symmetric ENCRYPT_DECRYPT key is needed/) });
    const keyName = await createKey();
    const l1 = track(await GcpKmsL1Provider.open(options(keyName)));
    const v1 = `${keyName}/cryptoKeyVersions/1`;
    for (const [state, expected] of [['PENDING_GENERATION', 'unreachable'], ['IMPORT_FAILED', 'revoked'], ['PENDING_IMPORT', 'revoked'], ['ENABLED', 'active']] as const) {
      kms.forceState(v1, state);
      expect((await l1.status()).state, state).toBe(expected);
    }
  });

  it('transient 503s are retried within the deadline (the SDK, through our retry codes); persistent ones are unreachable', async () => {
    const keyName = await createKey();
    const l1 = track(await GcpKmsL1Provider.open(options(keyName, { timeoutMs: 3000 })));
    const before = kms.requests.length;
    kms.failNext(1, 'UNAVAILABLE');
    const blob = await l1.wrap(Buffer.from('after a 503'), 'c');
    expect(kms.requests.slice(before).map((r) => r.path)).toEqual([`/v1/${keyName}:encrypt`, `/v1/${keyName}:encrypt`]);
    expect((await l1.unwrap(blob, 'c')).toString()).toBe('after a 503');
    kms.failNext(1_000_000, 'UNAVAILABLE');
    try {
      const st = await l1.status();
      expect(st.state).toBe('unreachable');
      expect(st.state !== 'active' && st.detail).toMatch(/UNAVAILABLE|DEADLINE_EXCEEDED|got no answer/);
    } finally {
      kms.failNext(0, 'UNAVAILABLE');
    }
    expect(await l1.status()).toEqual({ state: 'active' });
  });

  it('stalled or down: unreachable within the deadline; back: active', async () => {
    const keyName = await createKey();
    const l1 = track(await GcpKmsL1Provider.open(options(keyName, { timeoutMs: 400 })));
    const blob = await l1.wrap(Buffer.from('b'), 'c');
    kms.stall(true);
    try {
      const t0 = Date.now();
      const st = await l1.status();
      const took = Date.now() - t0;
      expect(st.state).toBe('unreachable');
      expect(st.state !== 'active' && st.detail).toMatch(/got no answer at .* within 400 ms|DEADLINE_EXCEEDED/);
      // Slack for a loaded 2-core machine: the deadline, not a socket timeout of minutes.
      expect(took).toBeGreaterThanOrEqual(350);
      expect(took).toBeLessThan(3000);
      await expect(l1.unwrap(blob, 'c')).rejects.toMatchObject({ status: 'unreachable' });
    } finally {
      kms.stall(false);
    }
    await kms.stop();
    try {
      expect(await l1.status()).toMatchObject({ state: 'unreachable', detail: expect.stringMatching(/ECONNREFUSED/) });
    } finally {
      await kms.start();
    }
    expect(await l1.status()).toEqual({ state: 'active' });
    expect((await l1.unwrap(blob, 'c')).toString()).toBe('b');
  });

  it('answers whose checksums do not match are refused as corrupted in transit', async () => {
    const l1 = track(await GcpKmsL1Provider.open(options(await createKey())));
    kms.rewriteNextAnswer = (a) => void (a.ciphertextCrc32c = String((Number(a.ciphertextCrc32c) + 1) % 2 ** 32));
    await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toThrow(/returned a ciphertext that does not match its checksum/);
    kms.rewriteNextAnswer = (a) => void (a.verifiedPlaintextCrc32c = false);
    await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toThrow(/did not confirm the request's checksums/);
    const blob = await l1.wrap(Buffer.from('x'), 'c');
    kms.rewriteNextAnswer = (a) => void (a.plaintext = Buffer.from('y').toString('base64'));
    await expect(l1.unwrap(blob, 'c')).rejects.toMatchObject({ status: 'unreachable', message: expect.stringMatching(/returned a plaintext that does not match its checksum/) });
  });

  it('credentials by reference: a file, an environment variable, or Application Default Credentials; failures name the reference', async () => {
    const keyName = await createKey();
    const fromEnv = track(await GcpKmsL1Provider.open(options(keyName, { credentialsFile: undefined, credentialsEnv: 'GCP_SA_JSON', env: { GCP_SA_JSON: JSON.stringify(user) } })));
    expect(await fromEnv.unwrap(await fromEnv.wrap(Buffer.from('env'), 'c'), 'c')).toEqual(Buffer.from('env'));

    const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = saFile;
    try {
      const adc = track(await GcpKmsL1Provider.open(options(keyName, { credentialsFile: undefined })));
      expect(await adc.status()).toEqual({ state: 'active' });
    } finally {
      if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    }

    const noEnv = track(await GcpKmsL1Provider.open(options(keyName, { credentialsFile: undefined, credentialsEnv: 'OPENKCM_TEST_NO_SUCH_VAR', env: {} })));
    expect(await noEnv.status()).toEqual({ state: 'unreachable', detail: 'gcp-kms: the credentials environment variable OPENKCM_TEST_NO_SUCH_VAR is not set' });
    const noFile = track(await GcpKmsL1Provider.open(options(keyName, { credentialsFile: join(dir, 'missing.json') })));
    expect(await noFile.status()).toEqual({ state: 'unreachable', detail: `gcp-kms: cannot read the credentials file ${join(dir, 'missing.json')} (ENOENT)` });
    writeFileSync(join(dir, 'garbage.json'), 'not json');
    const garbage = track(await GcpKmsL1Provider.open(options(keyName, { credentialsFile: join(dir, 'garbage.json') })));
    expect(await garbage.status()).toMatchObject({ state: 'unreachable', detail: expect.stringMatching(/does not hold JSON credentials$/) });
    // A well-formed key the service does not know (deleted in IAM): UNAUTHENTICATED.
    const stranger = new GcpKmsEndpoint().addServiceAccount('stranger');
    writeFileSync(join(dir, 'stranger.json'), JSON.stringify(stranger));
    const unknown = track(await GcpKmsL1Provider.open(options(keyName, { credentialsFile: join(dir, 'stranger.json') })));
    expect(await unknown.status()).toMatchObject({ state: 'unreachable', detail: expect.stringMatching(/UNAUTHENTICATED: Request had invalid authentication credentials/) });
  });

  it('refuses bad options naming the field, and credential values in configuration', async () => {
    const bad = async (o: unknown, re: RegExp) => expect(GcpKmsL1Provider.open(o as GcpKmsL1Options)).rejects.toThrow(re);
    await bad({ ...options(`${RING}/cryptoKeys/k`), credentials: { private_key: 'x' } }, /^gcp-kms\.credentials: credential values are not accepted in configuration/);
    await bad({ ...options(`${RING}/cryptoKeys/k`), keyName: '' }, /^gcp-kms\.keyName: the CryptoKey resource name is required/);
    await bad({ ...options(`${RING}/cryptoKeys/k/cryptoKeyVersions/3`) }, /^gcp-kms\.keyName: name the CryptoKey, not one of its versions/);
    await bad({ ...options('my-key') }, /^gcp-kms\.keyName: "my-key" is not a CryptoKey resource name/);
    await bad({ ...options(`${RING}/cryptoKeys/k`), endpoint: 'cloudkms.googleapis.com' }, /^gcp-kms\.endpoint: "cloudkms\.googleapis\.com" is not a URL/);
    await bad({ ...options(`${RING}/cryptoKeys/k`), endpoint: 'ftp://cloudkms.googleapis.com' }, /^gcp-kms\.endpoint: must be an http or https URL/);
    await bad({ ...options(`${RING}/cryptoKeys/k`), endpoint: 'https://cloudkms.googleapis.com/v1' }, /^gcp-kms\.endpoint: give the server only/);
    await bad({ ...options(`${RING}/cryptoKeys/k`), timeoutMs: 0 }, /^gcp-kms\.timeoutMs/);
    await bad({ ...options(`${RING}/cryptoKeys/k`), credentialsEnv: 'X' }, /credentialsFile\/credentialsEnv: give at most one/);
    await bad({ keyName: `${RING}/cryptoKeys/k`, credentialsEnv: 'not a name' }, /^gcp-kms\.credentialsEnv: must be an environment variable name/);
  });

  it('refuses what it cannot wrap, and blobs it did not make, before any call', async () => {
    const l1 = track(await GcpKmsL1Provider.open(options(await createKey())));
    const before = kms.requests.length;
    await expect(l1.wrap(Buffer.alloc(0), 'c')).rejects.toThrow(/1 to 4096 bytes, not 0/);
    await expect(l1.unwrap(Buffer.of(0x31, 0x01, 0x31, 0x00), 'c')).rejects.toThrow(/unknown format byte 0x31/);
    await expect(l1.unwrap(Buffer.of(GCP_KMS_BLOB_V1, 0x01, 0x41, 0x00), 'c')).rejects.toThrow(/does not hold a key version and a KMS ciphertext/);
    await expect(l1.unwrap(Buffer.of(GCP_KMS_BLOB_V1, 0x01), 'c')).rejects.toThrow(/too short/);
    expect(kms.requests.length).toBe(before);
  });

  it('after close: status unreachable and calls refused', async () => {
    const l1 = await GcpKmsL1Provider.open(options(await createKey()));
    await l1.status();
    await l1.close();
    expect(await l1.status()).toEqual({ state: 'unreachable', detail: 'gcp-kms: provider is closed' });
    await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toThrow(/closed/);
  });

  it('reads the google.rpc.Code from a GoogleError, from a GaxiosError body (gax 5 over REST), or from the HTTP status alone', () => {
    expect(rpcError({ code: 5, message: '5 NOT_FOUND: gone' })).toMatchObject({ code: 5, name: 'NOT_FOUND' });
    expect(rpcError({ code: 400, message: '{"error":{"code":400,"message":"m","status":"FAILED_PRECONDITION"}}' })).toEqual({ code: 9, name: 'FAILED_PRECONDITION', message: 'm' });
    expect(rpcError({ code: 503, message: '<html>Service Unavailable</html>' })).toEqual({ code: 14, name: 'UNAVAILABLE', message: 'HTTP 503' });
    expect(rpcError({ code: 502, message: 'Bad Gateway' })).toMatchObject({ code: 2, name: 'UNKNOWN' });
    expect(rpcError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toMatchObject({ code: undefined, name: 'ECONNREFUSED' });
  });
});

describe('openL1Provider / parseL1Config: gcp-kms', () => {
  it('opens gcp-kms from a typed config, the credentials JSON looked up in the given env', async () => {
    const keyName = await createKey();
    const l1 = await openL1Provider({ provider: 'gcp-kms', keyName, endpoint: kms.url, credentialsEnv: 'SA' }, { env: { SA: JSON.stringify(user) } });
    try {
      expect(l1.describe()).toEqual({ provider: 'gcp-kms', keyRef: keyName, developmentOnly: false });
      expect(await l1.unwrap(await l1.wrap(Buffer.from('f'), 'c'), 'c')).toEqual(Buffer.from('f'));
    } finally {
      await l1.close();
    }
  });

  it('names the bad field', () => {
    const bad = (raw: unknown, msg: string | RegExp) => expect(() => parseL1Config(raw), JSON.stringify(raw)).toThrow(msg);
    const keyName = `${RING}/cryptoKeys/k`;
    bad({ provider: 'gcp-kms' }, 'l1.keyName: required for provider gcp-kms');
    bad({ provider: 'gcp-kms', keyName, credentials: '{}' }, /^l1\.credentials: credential values are not accepted in configuration; name a credentials file \(credentialsFile\)/);
    bad({ provider: 'gcp-kms', keyName, private_key: '-----BEGIN' }, /^l1\.private_key: credential values are not accepted/);
    bad({ provider: 'gcp-kms', keyName, credentialsFile: '/a', credentialsEnv: 'B' }, 'l1.credentialsFile/credentialsEnv: give at most one of them (neither: Application Default Credentials)');
    bad({ provider: 'gcp-kms', keyName, keyRing: 'r' }, /^l1\.keyRing: unknown field for provider gcp-kms \(known: keyName, endpoint, timeoutMs, credentialsFile, credentialsEnv\)$/);
    bad({ provider: 'gcp-kms', keyName, timeoutMs: '5s' }, 'l1.timeoutMs: must be an integer');
    bad({ provider: 'gcp-kms', keyName: 'acme-root' }, 'l1.keyName: "acme-root" is not a CryptoKey resource name (projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>)');
    bad({ provider: 'gcp-kms', keyName: `${keyName}/cryptoKeyVersions/1` }, /^l1\.keyName: ".*cryptoKeyVersions\/1" is not a CryptoKey resource name/);
    expect(parseL1Config({ provider: 'gcp-kms', keyName, credentialsFile: '/run/secrets/sa.json' })).toEqual({ provider: 'gcp-kms', keyName, credentialsFile: '/run/secrets/sa.json' });
  });

  it('loads @google-cloud/kms only when the gcp-kms provider is opened (DESIGN.md §6.9)', () => {
    const d = mkdtempSync(join(tmpdir(), 'openkcm-lazy-gcp-'));
    try {
      writeFileSync(join(d, 'hooks.mjs'), "export async function resolve(s, c, next) { if (s === '@google-cloud/kms') throw new Error('refused ' + s); return next(s, c); }\n");
      writeFileSync(join(d, 'register.mjs'), "import { register } from 'node:module'; register('./hooks.mjs', import.meta.url);\n");
      const script = `
        const m = await import(${JSON.stringify(new URL('../../src/hsm/index.ts', import.meta.url).href)});
        const out = [];
        const p = await m.openL1Provider({ provider: 'software', keyFile: ${JSON.stringify(join(d, 'k', 'l1.key'))} });
        out.push(p.describe().provider);
        try { await m.openL1Provider({ provider: 'gcp-kms', keyName: ${JSON.stringify(`${RING}/cryptoKeys/k`)} }); out.push('opened?!'); } catch (e) { out.push(e.message); }
        process.stdout.write(JSON.stringify(out));`;
      const out = execFileSync(process.execPath, ['--import', 'tsx', '--import', join(d, 'register.mjs'), '--input-type=module', '-e', script], {
        cwd: new URL('../..', import.meta.url).pathname, encoding: 'utf8', env: { ...process.env, NODE_NO_WARNINGS: '1' },
      });
      expect(JSON.parse(out)).toEqual(['software', 'gcp-kms: @google-cloud/kms cannot be loaded (refused @google-cloud/kms); run npm install']);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

// Opt-in: real Cloud KMS. OPENKCM_GCP_KMS_KEY names a symmetric ENCRYPT_DECRYPT CryptoKey
// (projects/…/cryptoKeys/…) the credentials may use (roles/cloudkms.cryptoKeyEncrypterDecrypter
// and cloudkms.viewer); credentials from OPENKCM_GCP_KMS_CREDENTIALS_FILE, else Application
// Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, workload identity). Nothing is
// created or changed.
const liveKey = process.env.OPENKCM_GCP_KMS_KEY;
describe.skipIf(!liveKey)('gcp-kms against real Cloud KMS (opt-in)', () => {
  it('wraps, unwraps, binds the context and reports active', async () => {
    const saved = process.env.METADATA_SERVER_DETECTION;
    delete process.env.METADATA_SERVER_DETECTION; // workload identity may need the metadata server
    const o: GcpKmsL1Options = { keyName: liveKey!, timeoutMs: 15_000 };
    if (process.env.OPENKCM_GCP_KMS_CREDENTIALS_FILE) o.credentialsFile = process.env.OPENKCM_GCP_KMS_CREDENTIALS_FILE;
    const l1 = await GcpKmsL1Provider.open(o);
    try {
      expect(await l1.status()).toEqual({ state: 'active' });
      const blob = await l1.wrap(Buffer.alloc(32, 7), 'openkcm-live-test');
      expect(await l1.unwrap(blob, 'openkcm-live-test')).toEqual(Buffer.alloc(32, 7));
      await expect(l1.unwrap(blob, 'another')).rejects.toThrow(/unwrap failed/);
    } finally {
      await l1.close();
      if (saved !== undefined) process.env.METADATA_SERVER_DETECTION = saved;
    }
  }, 60_000);
});
