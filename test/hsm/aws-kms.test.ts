// The aws-kms L1 provider, driving the REAL @aws-sdk/client-kms against
// test/hsm/kms-endpoint.ts: a KMS-compatible endpoint (AWS JSON 1.1 over HTTP) written in
// the test tree, because no AWS KMS emulator can run here. It does not check SigV4
// signatures; everything else the provider depends on (key states, EncryptionContext as AAD,
// the exceptions of Encrypt/Decrypt/DescribeKey) behaves as the service documents.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateAliasCommand, CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, KMSClient, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_KMS_BLOB_V1, AwsKmsL1Provider, encryptionContextFor, type AwsKmsL1Options } from '../../src/hsm/aws-kms.ts';
import { openL1Provider, parseL1Config, type L1Config } from '../../src/hsm/index.ts';
import { L1Error } from '../../src/hsm/software.ts';
import { runL1ProviderContract } from './contract.ts';
import { KmsEndpoint } from './kms-endpoint.ts';

// Keep the SDK's default chain away from the host: no shared files, no instance metadata.
process.env.AWS_CONFIG_FILE = '/nonexistent/openkcm-test-aws-config';
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/openkcm-test-aws-credentials';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
delete process.env.AWS_PROFILE;
delete process.env.AWS_REGION;
delete process.env.AWS_DEFAULT_REGION;
process.env.AWS_ACCESS_KEY_ID = 'AKIAOPENKCMTESTDEFAULT';
process.env.AWS_SECRET_ACCESS_KEY = 'default-chain-secret-for-tests';
process.env.OPENKCM_TEST_KMS_ID = 'AKIAOPENKCMTESTBYREF';
process.env.OPENKCM_TEST_KMS_SECRET = 'by-reference-secret-for-tests';

const REGION = 'eu-central-1';
const endpoint = new KmsEndpoint(REGION);
let admin: KMSClient;

beforeAll(async () => {
  await endpoint.start();
  admin = new KMSClient({ region: REGION, endpoint: endpoint.url, maxAttempts: 1 });
});
afterAll(async () => {
  admin.destroy();
  await endpoint.stop();
});

const createKey = async (): Promise<{ id: string; arn: string }> => {
  const out = await admin.send(new CreateKeyCommand({ Description: 'openkcm test L1' }));
  return { id: out.KeyMetadata!.KeyId!, arn: out.KeyMetadata!.Arn! };
};
const options = (keyId: string, extra: Partial<AwsKmsL1Options> = {}): AwsKmsL1Options => ({
  keyId,
  region: REGION,
  endpoint: endpoint.url,
  timeoutMs: 2000,
  accessKeyIdEnv: 'OPENKCM_TEST_KMS_ID',
  secretAccessKeyEnv: 'OPENKCM_TEST_KMS_SECRET',
  ...extra,
});

runL1ProviderContract(
  'aws-kms (real SDK against the KMS-compatible test endpoint)',
  async () => {
    const { id } = await createKey();
    return {
      provider: await AwsKmsL1Provider.open(options(id)),
      revokeKey: async () => void (await admin.send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 }))),
      disableKey: async () => void (await admin.send(new DisableKeyCommand({ KeyId: id }))),
      enableKey: async () => void (await admin.send(new EnableKeyCommand({ KeyId: id }))),
    };
  },
  { revoke: true, disable: true },
);

describe('AwsKmsL1Provider', () => {
  const open: AwsKmsL1Provider[] = [];
  const track = (p: AwsKmsL1Provider) => (open.push(p), p);
  afterAll(async () => {
    for (const p of open) await p.close();
  });

  it('speaks AWS JSON 1.1 with SigV4-signed requests, and binds the context in the EncryptionContext', async () => {
    const { id, arn } = await createKey();
    const l1 = track(await AwsKmsL1Provider.open(options(id)));
    const before = endpoint.requests.length;
    const blob = await l1.wrap(Buffer.alloc(32, 1), 'tenant:acme/l2/v1');
    expect(blob[0]).toBe(AWS_KMS_BLOB_V1);
    expect(blob.subarray(1).includes(Buffer.from(id))).toBe(true); // the KMS blob names its key
    await l1.unwrap(blob, 'tenant:acme/l2/v1');
    const seen = endpoint.requests.slice(before);
    expect(seen.map((r) => r.target)).toEqual(['TrentService.Encrypt', 'TrentService.Decrypt']);
    for (const r of seen) {
      expect(r.signed).toBe(true);
      expect(r.contentType).toBe('application/x-amz-json-1.1');
    }
    expect(encryptionContextFor('tenant:acme/l2/v1')).toEqual({ openkcm: 'tenant:acme/l2/v1' });
    expect(encryptionContextFor('')).not.toEqual(encryptionContextFor('true'));
    expect(l1.describe()).toEqual({ provider: 'aws-kms', keyRef: `${id} (${REGION})`, developmentOnly: false });
    const byArn = track(await AwsKmsL1Provider.open({ ...options(arn), region: undefined }));
    expect(byArn.region).toBe(REGION); // taken from the ARN
    expect(byArn.describe().keyRef).toBe(arn);
  });

  it('a blob wrapped under context A does not unwrap under B (InvalidCiphertextException)', async () => {
    const l1 = track(await AwsKmsL1Provider.open(options((await createKey()).id)));
    const blob = await l1.wrap(Buffer.from('L2 of tenant A'), 'tenant:A');
    const err = await l1.unwrap(blob, 'tenant:B').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(L1Error);
    expect((err as Error).message).toMatch(/InvalidCiphertextException.*bound to another context/);
    expect((err as L1Error).status).toBeUndefined();
    expect((await l1.unwrap(blob, 'tenant:A')).toString()).toBe('L2 of tenant A');
  });

  it('a blob of another KMS key is refused even when our credentials could use that key', async () => {
    const a = track(await AwsKmsL1Provider.open(options((await createKey()).id)));
    const b = track(await AwsKmsL1Provider.open(options((await createKey()).id)));
    const blob = await a.wrap(Buffer.from('x'), 'c');
    await expect(b.unwrap(blob, 'c')).rejects.toThrow(/IncorrectKeyException/);
  });

  it('works through an alias name and an alias ARN', async () => {
    const { id } = await createKey();
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/openkcm-tenant-acme', TargetKeyId: id }));
    const byAlias = track(await AwsKmsL1Provider.open(options('alias/openkcm-tenant-acme')));
    const byAliasArn = track(await AwsKmsL1Provider.open(options(`arn:aws:kms:${REGION}:${endpoint.account}:alias/openkcm-tenant-acme`)));
    expect(await byAlias.status()).toEqual({ state: 'active' });
    expect(await byAliasArn.unwrap(await byAlias.wrap(Buffer.from('via alias'), 'c'), 'c')).toEqual(Buffer.from('via alias'));
  });

  it('DisableKey: status disabled, unwrap refused with DisabledException; EnableKey: works again', async () => {
    const { id, arn } = await createKey();
    const l1 = track(await AwsKmsL1Provider.open(options(id)));
    const blob = await l1.wrap(Buffer.alloc(32, 2), 'tenant:x');
    await admin.send(new DisableKeyCommand({ KeyId: id }));
    expect(await l1.status()).toEqual({ state: 'disabled', detail: `aws-kms: key ${arn} is Disabled` });
    const err = await l1.unwrap(blob, 'tenant:x').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/Decrypt of .* failed \(DisabledException/);
    expect((err as L1Error).status).toBe('disabled');
    await admin.send(new EnableKeyCommand({ KeyId: id }));
    expect(await l1.status()).toEqual({ state: 'active' });
    expect(await l1.unwrap(blob, 'tenant:x')).toEqual(Buffer.alloc(32, 2));
  });

  it('ScheduleKeyDeletion: status revoked with the deletion date; Decrypt refused (KMSInvalidStateException)', async () => {
    const { id, arn } = await createKey();
    const l1 = track(await AwsKmsL1Provider.open(options(id)));
    const blob = await l1.wrap(Buffer.alloc(32, 3), 'tenant:y');
    const sched = await admin.send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 }));
    const st = await l1.status();
    expect(st).toEqual({ state: 'revoked', detail: `aws-kms: key ${arn} is PendingDeletion (deletion scheduled for ${sched.DeletionDate!.toISOString()})` });
    const err = await l1.unwrap(blob, 'tenant:y').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/KMSInvalidStateException/);
    expect((err as L1Error).status).toBe('revoked');
    // And DisableKey/EnableKey cannot bring it back, as in AWS.
    await expect(admin.send(new EnableKeyCommand({ KeyId: id }))).rejects.toThrow(/pending deletion/);
  });

  it('a key that does not exist: status revoked (NotFoundException)', async () => {
    const l1 = track(await AwsKmsL1Provider.open(options('0b7e4f0e-0000-4000-8000-000000000000')));
    const st = await l1.status();
    expect(st.state).toBe('revoked');
    expect(st.state !== 'active' && st.detail).toMatch(/NotFoundException/);
    await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toMatchObject({ status: 'revoked' });
  });

  it('key states without a public operation here: PendingImport → revoked, Unavailable → unreachable', async () => {
    const { id } = await createKey();
    const l1 = track(await AwsKmsL1Provider.open(options(id)));
    endpoint.forceState(id, 'PendingImport');
    expect(await l1.status()).toMatchObject({ state: 'revoked', detail: expect.stringMatching(/PendingImport/) });
    endpoint.forceState(id, 'Unavailable');
    expect(await l1.status()).toMatchObject({ state: 'unreachable', detail: expect.stringMatching(/custom key store is disconnected/) });
    endpoint.forceState(id, 'Enabled');
    expect(await l1.status()).toEqual({ state: 'active' });
  });

  it('a stalled endpoint: unreachable within the configured timeout', async () => {
    const { id } = await createKey();
    const l1 = track(await AwsKmsL1Provider.open(options(id, { timeoutMs: 400 })));
    endpoint.stall(true);
    try {
      const t0 = Date.now();
      const st = await l1.status();
      const took = Date.now() - t0;
      expect(st).toMatchObject({ state: 'unreachable', detail: expect.stringMatching(/DescribeKey of .* got no answer from .* within 400 ms$/) });
      expect(took).toBeGreaterThanOrEqual(350);
      expect(took).toBeLessThan(1500);
      const t1 = Date.now();
      await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toMatchObject({ status: 'unreachable' });
      expect(Date.now() - t1).toBeLessThan(1500);
    } finally {
      endpoint.stall(false);
    }
  });

  it('the endpoint down: unreachable at once; back up: active again', async () => {
    const { id } = await createKey();
    const l1 = track(await AwsKmsL1Provider.open(options(id, { timeoutMs: 3000 })));
    const blob = await l1.wrap(Buffer.from('before'), 'c');
    await endpoint.stop();
    try {
      const t0 = Date.now();
      const st = await l1.status();
      expect(st.state).toBe('unreachable');
      expect(st.state !== 'active' && st.detail).toMatch(/ECONNREFUSED/);
      expect(Date.now() - t0).toBeLessThan(3000);
      await expect(l1.unwrap(blob, 'c')).rejects.toMatchObject({ status: 'unreachable' });
    } finally {
      await endpoint.start();
    }
    expect(await l1.status()).toEqual({ state: 'active' });
    expect((await l1.unwrap(blob, 'c')).toString()).toBe('before');
  });

  it('credentials: by environment reference (a missing variable is named) or from the SDK default chain', async () => {
    const { id } = await createKey();
    const missing = track(await AwsKmsL1Provider.open(options(id, { accessKeyIdEnv: 'OPENKCM_TEST_NO_SUCH_KEY_ID' })));
    const err = await missing.wrap(Buffer.from('x'), 'c').catch((e: unknown) => e);
    expect((err as Error).message).toBe('aws-kms: the credentials environment variable OPENKCM_TEST_NO_SUCH_KEY_ID is not set');
    expect((err as L1Error).status).toBe('unreachable');
    const chain = track(await AwsKmsL1Provider.open({ keyId: id, region: REGION, endpoint: endpoint.url }));
    expect(await chain.unwrap(await chain.wrap(Buffer.from('y'), 'c'), 'c')).toEqual(Buffer.from('y'));
  });

  it('refuses bad options naming the field, and credential values in configuration', async () => {
    const bad = async (o: unknown, re: RegExp) => expect(AwsKmsL1Provider.open(o as AwsKmsL1Options)).rejects.toThrow(re);
    await bad({ ...options('k'), secretAccessKey: 'x' }, /^aws-kms\.secretAccessKey: credential values are not accepted in configuration/);
    await bad({ ...options('k'), keyId: '' }, /^aws-kms\.keyId: a key id, key ARN or alias is required/);
    await bad({ ...options('k'), keyId: 'not a key' }, /^aws-kms\.keyId: "not a key" is neither/);
    await bad({ ...options('k'), region: 'Mars' }, /^aws-kms\.region: "Mars" is not an AWS region name/);
    await bad({ ...options('k'), endpoint: 'ftp://x' }, /^aws-kms\.endpoint: must be an http or https URL/);
    await bad({ ...options('k'), timeoutMs: 0 }, /^aws-kms\.timeoutMs/);
    await bad({ ...options('k'), secretAccessKeyEnv: undefined }, /accessKeyIdEnv\/secretAccessKeyEnv: give both or neither/);
    await bad({ keyId: 'some-key-id', endpoint: endpoint.url }, /^aws-kms\.region: not given, not in the key ARN/);
  });

  it('refuses what KMS cannot encrypt, and blobs it did not make, before any call', async () => {
    const l1 = track(await AwsKmsL1Provider.open(options((await createKey()).id)));
    const before = endpoint.requests.length;
    await expect(l1.wrap(Buffer.alloc(0), 'c')).rejects.toThrow(/1 to 4096 bytes, not 0/);
    await expect(l1.wrap(Buffer.alloc(4097), 'c')).rejects.toThrow(/not 4097/);
    await expect(l1.unwrap(Buffer.of(0x01, 0x02, 0x03), 'c')).rejects.toThrow(/unknown format byte 0x01/);
    expect(endpoint.requests.length).toBe(before);
  });

  it('after close: status unreachable and calls refused', async () => {
    const l1 = await AwsKmsL1Provider.open(options((await createKey()).id));
    await l1.close();
    expect(await l1.status()).toEqual({ state: 'unreachable', detail: 'aws-kms: provider is closed' });
    await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toThrow(/closed/);
  });
});

describe('openL1Provider / parseL1Config', () => {
  it('opens the aws-kms provider from a typed config, credentials looked up in the given env', async () => {
    const { id } = await createKey();
    const cfg: L1Config = { provider: 'aws-kms', keyId: id, region: REGION, endpoint: endpoint.url, timeoutMs: 1000, accessKeyIdEnv: 'K', secretAccessKeyEnv: 'S' };
    const l1 = await openL1Provider(cfg, { env: { K: 'AKIAFROMDEPS', S: 'secret-from-deps' } });
    try {
      expect(l1.describe().provider).toBe('aws-kms');
      expect(await l1.unwrap(await l1.wrap(Buffer.from('f'), 'c'), 'c')).toEqual(Buffer.from('f'));
    } finally {
      await l1.close();
    }
  });

  it('opens the software provider', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-l1cfg-'));
    try {
      const l1 = await openL1Provider({ provider: 'software', keyFile: join(dir, 'l1.key') });
      expect(l1.describe()).toMatchObject({ provider: 'software', developmentOnly: true });
      await l1.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the bad field: provider, required, unknown, type, secrets in clear, PIN/key choices', () => {
    const bad = (raw: unknown, msg: string | RegExp) => expect(() => parseL1Config(raw), JSON.stringify(raw)).toThrow(msg);
    bad(null, 'l1: the L1 configuration must be an object');
    bad({ provider: 'vault' }, 'l1.provider: must be software, pkcs11, aws-kms, kmip, vault-transit, azure-keyvault or gcp-kms, not "vault"');
    bad({ provider: 'software' }, 'l1.keyFile: required for provider software');
    bad({ provider: 'software', keyFile: '/k', keyfile: '/k' }, /^l1\.keyfile: unknown field for provider software \(known: keyFile\)$/);
    bad({ provider: 'software', keyFile: '/k', key: 'ab'.repeat(32) }, /^l1\.key: key material is not accepted/);
    bad({ provider: 'software', keyFile: 7 }, 'l1.keyFile: must be a non-empty string');
    bad({ provider: 'pkcs11', tokenLabel: 't', keyLabel: 'k', pin: '1234' }, /^l1\.pin: a PIN value is not accepted in configuration/);
    bad({ provider: 'pkcs11', tokenLabel: 't', keyLabel: 'k' }, 'l1.pinEnv/pinFile: give exactly one of them (the PIN by reference)');
    bad({ provider: 'pkcs11', tokenLabel: 't', pinEnv: 'P', keyLabel: 'k', keyId: '01' }, 'l1.keyLabel/keyId: give exactly one of them');
    bad({ provider: 'pkcs11', tokenLabel: 't', pinEnv: 'P', keyLabel: 'k', maxSessions: 1.5 }, 'l1.maxSessions: must be an integer');
    bad({ provider: 'pkcs11', tokenLabel: 't', pinEnv: 'P', keyLabel: 'k', mechanism: 'des' }, 'l1.mechanism: must be auto, aes-gcm or aes-kwp, not "des"');
    bad({ provider: 'aws-kms' }, 'l1.keyId: required for provider aws-kms');
    bad({ provider: 'aws-kms', keyId: 'k', secretAccessKey: 'x' }, /^l1\.secretAccessKey: credential values are not accepted/);
    bad({ provider: 'aws-kms', keyId: 'k', timeoutMs: '5s' }, 'l1.timeoutMs: must be an integer');
    expect(parseL1Config({ provider: 'aws-kms', keyId: 'alias/x', region: 'eu-west-1' })).toEqual({ provider: 'aws-kms', keyId: 'alias/x', region: 'eu-west-1' });
  });

  it('loads pkcs11js and the AWS SDK only when their provider is opened (DESIGN.md §6.9)', () => {
    // A child process whose module loader refuses both packages: the software provider must
    // still open, and the two others must fail saying which package could not be loaded.
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-lazy-'));
    try {
      writeFileSync(
        join(dir, 'hooks.mjs'),
        "export async function resolve(s, c, next) { if (/^(pkcs11js|@aws-sdk\\/client-kms)$/.test(s)) throw new Error('refused ' + s); return next(s, c); }\n",
      );
      writeFileSync(join(dir, 'register.mjs'), "import { register } from 'node:module'; register('./hooks.mjs', import.meta.url);\n");
      const script = `
        const m = await import(${JSON.stringify(new URL('../../src/hsm/index.ts', import.meta.url).href)});
        const out = [];
        const p = await m.openL1Provider({ provider: 'software', keyFile: ${JSON.stringify(join(dir, 'k', 'l1.key'))} });
        out.push(p.describe().provider);
        for (const cfg of [{ provider: 'aws-kms', keyId: 'abc', region: 'eu-west-1' }, { provider: 'pkcs11', tokenLabel: 't', pinEnv: 'HOME', keyLabel: 'k' }]) {
          try { await m.openL1Provider(cfg); out.push('opened?!'); } catch (e) { out.push(e.message); }
        }
        process.stdout.write(JSON.stringify(out));`;
      const out = execFileSync(process.execPath, ['--import', 'tsx', '--import', join(dir, 'register.mjs'), '--input-type=module', '-e', script], {
        cwd: new URL('../..', import.meta.url).pathname,
        encoding: 'utf8',
        env: { ...process.env, NODE_NO_WARNINGS: '1' },
      });
      expect(JSON.parse(out)).toEqual([
        'software',
        'aws-kms: @aws-sdk/client-kms cannot be loaded (refused @aws-sdk/client-kms); run npm install',
        'pkcs11: the pkcs11js module cannot be loaded (refused pkcs11js); run npm install',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
