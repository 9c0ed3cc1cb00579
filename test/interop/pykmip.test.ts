// Real-client interoperability (issue 5 "Real-client suite", issue 3 §6): PyKMIP's client
// (Debian python3-pykmip 0.10) drives OpenKCM over mutual TLS, once per protocol version
// it speaks. test/interop/pykmip_client.py runs the operations and prints what it saw.
import { execFile } from 'node:child_process';
import { constants, createCipheriv, createDecipheriv, createHmac, createPublicKey, verify } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENUMERATIONS, ResultReason } from '../../src/ttlv/generated/enumerations.ts';
import { atLeast, type ProtocolVersion } from '../../src/kmip/version.ts';
import { PYTHON, pykmipAvailable, startTestServer, type TestServer } from './harness.ts';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, 'pykmip_client.py');
const CRYPTO_SCRIPT = join(import.meta.dirname, 'pykmip_crypto.py');
const VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0'] as const;
/** Encrypt, Decrypt, Sign, Signature Verify and MAC exist since KMIP 1.2 (1.4 s.4.29–4.33). */
const CRYPTO_VERSIONS = ['1.2', '2.0'] as const;

type Outcome =
  | { ok: true; value: unknown }
  | { ok: false; status?: string; reason?: string; reason_value?: number; message?: string; error?: string; trace?: string };
type Report = Record<string, Outcome> & { _expected: { uid: string; registered_key: string; secret: string } };

const parse = (v: string): ProtocolVersion => {
  const [major, minor] = v.split('.').map(Number) as [number, number];
  return { major, minor };
};

/** Whether a Result Reason value exists in a protocol version (a 1.x client cannot read a 2.x reason). */
function reasonDefinedIn(value: number | undefined, v: string): boolean {
  if (value === undefined) return false;
  const info = ENUMERATIONS.ResultReason!;
  const name = Object.entries(info.values).find(([, n]) => n === value)?.[0];
  if (!name) return false;
  const vi = info.valueInfo[name]!;
  return atLeast(parse(v), vi.since) && !(vi.removed && atLeast(parse(v), vi.removed));
}

/** A script's output: step name → outcome, plus `_`-prefixed inputs the checks need. */
type Steps = Record<string, unknown>;

function success(r: Steps, step: string): unknown {
  const o = r[step] as Outcome | undefined;
  expect(o, `step ${step} missing from the report`).toBeDefined();
  if (!o!.ok) expect.fail(`step ${step} failed: ${JSON.stringify(o)}`);
  return (o as { value: unknown }).value;
}

function failure(r: Steps, step: string) {
  const o = r[step] as Outcome;
  expect(o, `step ${step} missing`).toBeDefined();
  if (o.ok) expect.fail(`step ${step} succeeded but must fail: ${JSON.stringify(o.value)}`);
  const f = o as Extract<Outcome, { ok: false }>;
  // The client must have understood the answer: a KMIP failure, not a client crash.
  expect(f.error, `PyKMIP could not process the answer to ${step}: ${f.trace ?? ''}`).toBeUndefined();
  expect(f.status).toBe('OPERATION_FAILED');
  return f;
}

/** Every answer must have been readable by the client at all. */
function expectReadable(r: Steps): void {
  const unreadable = Object.entries(r)
    .filter(([, o]) => typeof o === 'object' && o !== null && 'error' in o && o.error !== undefined)
    .map(([step, o]) => `${step}: ${(o as { error: string }).error}`);
  expect(unreadable, 'PyKMIP could not process these answers').toEqual([]);
}

/** A refusal in the client's version: the 2.0 reason, or one that the 1.x version defines. */
function expectRefusal(f: ReturnType<typeof failure>, version: string, reason2x: string): void {
  if (version.startsWith('2.')) expect(f.reason).toBe(reason2x);
  else expect(reasonDefinedIn(f.reason_value, version), `reason ${f.reason} is not a KMIP ${version} reason`).toBe(true);
}

const hex = (v: unknown): Buffer => {
  expect(typeof v, `expected a hex string, got ${JSON.stringify(v)}`).toBe('string');
  return Buffer.from(v as string, 'hex');
};

describe('PyKMIP client against OpenKCM over mutual TLS', () => {
  let server: TestServer;

  beforeAll(async () => {
    // npm test and .ci/run install python3-pykmip (scripts/ensure-system-deps.sh); a missing
    // client is a broken environment, not a reason to pass quietly.
    if (!pykmipAvailable()) throw new Error(`PyKMIP is not importable by ${PYTHON}: apt-get install -y python3-pykmip`);
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  for (const version of VERSIONS) {
    it(`KMIP ${version}: create, register, get, attributes, locate, lifecycle and error cases`, async () => {
      const { stdout } = await run(
        PYTHON,
        [SCRIPT, server.host, String(server.port), server.pki.clientCert, server.pki.clientKey, server.pki.caCert, version, 't'],
        { timeout: 90_000, maxBuffer: 4 << 20 },
      );
      const r = JSON.parse(stdout) as Report;
      expectReadable(r);

      if (version !== '1.0') {
        const versions = success(r, 'discover_versions') as string[];
        for (const v of VERSIONS) expect(versions).toContain(v);
      }

      const q = success(r, 'query') as { operations: string[]; object_types: string[] };
      const ops = ['CREATE', 'REGISTER', 'GET', 'GET_ATTRIBUTES', 'GET_ATTRIBUTE_LIST', 'LOCATE', 'ACTIVATE', 'REVOKE', 'DESTROY', 'QUERY'];
      if (version !== '1.0') ops.push('DISCOVER_VERSIONS');
      for (const op of ops) expect(q.operations).toContain(op);
      expect(q.object_types).toEqual(expect.arrayContaining(['SYMMETRIC_KEY', 'SECRET_DATA']));

      const uid = success(r, 'create');
      expect(typeof uid).toBe('string');
      const keyName = `interop-t-${version}-key`;

      expect(success(r, 'get_attributes')).toEqual({
        uid,
        attributes: {
          State: ['PRE_ACTIVE'],
          'Cryptographic Algorithm': ['AES'],
          'Cryptographic Length': [256],
          Name: [keyName],
          'Object Type': ['SYMMETRIC_KEY'],
        },
      });
      expect(success(r, 'get_attribute_list')).toEqual(
        expect.arrayContaining(['Unique Identifier', 'Object Type', 'State', 'Name', 'Cryptographic Algorithm', 'Cryptographic Length']),
      );
      expect(success(r, 'get_created')).toEqual({ type: 'SymmetricKey', length: 32 });

      success(r, 'activate');
      const twice = failure(r, 'activate_again');
      if (version === '2.0') expect(twice.reason).toBe('WRONG_KEY_LIFECYCLE_STATE');
      else expect(reasonDefinedIn(twice.reason_value, version), `reason ${twice.reason} is not a KMIP ${version} reason`).toBe(true);
      expect((success(r, 'state_after_activate') as { attributes: unknown }).attributes).toEqual({ State: ['ACTIVE'] });

      expect(r.register_symmetric?.ok).toBe(true);
      expect(success(r, 'get_registered_symmetric')).toBe(r._expected.registered_key);
      expect(r.register_secret?.ok).toBe(true);
      expect(success(r, 'get_secret')).toBe(r._expected.secret);

      expect(success(r, 'locate_by_name')).toEqual([uid]);
      expect(success(r, 'locate_unknown_name')).toEqual([]);

      success(r, 'revoke');
      expect((success(r, 'state_after_revoke') as { attributes: unknown }).attributes).toEqual({ State: ['DEACTIVATED'] });
      success(r, 'destroy');
      const gone = failure(r, 'get_after_destroy');
      expect(reasonDefinedIn(gone.reason_value, version), `reason ${gone.reason} is not a KMIP ${version} reason`).toBe(true);
      const allowed: number[] = [ResultReason.ItemNotFound];
      if (version === '2.0') allowed.push(ResultReason.ObjectDestroyed);
      expect(allowed).toContain(gone.reason_value);
      success(r, 'destroy_registered');
    });
  }
  // Issue 5 "Tests and figures": the cryptographic operations through PyKMIP, each output
  // checked against a local implementation (Node's AES / RSA / HMAC over the key material
  // fetched with Get, and Python's own AES and hmac inside the script).
  for (const version of CRYPTO_VERSIONS) {
    it(`KMIP ${version}: Encrypt/Decrypt AES-256-CBC-PKCS5, Sign/Verify RSA-2048, MAC HMAC-SHA256`, async () => {
      const { stdout } = await run(
        PYTHON,
        [CRYPTO_SCRIPT, server.host, String(server.port), server.pki.clientCert, server.pki.clientKey, server.pki.caCert, version, 'c'],
        { timeout: 120_000, maxBuffer: 4 << 20 },
      );
      const r = JSON.parse(stdout) as Steps;
      expectReadable(r);
      const input = r._input as Record<string, string>;
      const plaintext = hex(input.plaintext);
      const clientIv = hex(input.client_iv);
      for (const s of ['aes_create', 'aes_activate', 'aes_known_register', 'aes_known_activate', 'rsa_create', 'rsa_activate', 'hmac_create', 'hmac_activate']) {
        success(r, s);
      }
      const aesKey = hex(success(r, 'aes_key'));
      expect(aesKey.length).toBe(32);

      // Server-chosen IV: the server must return one, and it must be the one it used.
      const serverIv = success(r, 'encrypt_server_iv') as { data: string; iv: string | null };
      expect(serverIv.iv, 'the server returned no IV/Counter/Nonce although the client gave none').not.toBeNull();
      const iv = hex(serverIv.iv);
      expect(iv.length).toBe(16);
      const ct = hex(serverIv.data);
      expect(ct.length).toBe(48); // 37 bytes padded to whole blocks (PKCS#5)
      const d = createDecipheriv('aes-256-cbc', aesKey, iv);
      expect(Buffer.concat([d.update(ct), d.final()])).toEqual(plaintext);
      expect(hex(success(r, 'python_decrypt_server_iv'))).toEqual(plaintext);
      expect(hex(success(r, 'decrypt_server_iv'))).toEqual(plaintext);

      // Client IV: the ciphertext is fixed by key, IV and data; the server returns no IV.
      const withClientIv = success(r, 'encrypt_client_iv') as { data: string; iv: string | null };
      expect(withClientIv.iv).toBeNull();
      const e = createCipheriv('aes-256-cbc', aesKey, clientIv);
      expect(hex(withClientIv.data)).toEqual(Buffer.concat([e.update(plaintext), e.final()]));
      expect(hex(success(r, 'decrypt_client_iv'))).toEqual(plaintext);
      const truncated = failure(r, 'decrypt_truncated');
      expect(reasonDefinedIn(truncated.reason_value, version), `reason ${truncated.reason} is not a KMIP ${version} reason`).toBe(true);
      expect([ResultReason.InvalidField, ResultReason.CryptographicFailure]).toContain(truncated.reason_value);

      // A registered key: Python's ciphertext decrypts on the server; Encrypt is not allowed.
      expect(hex(success(r, 'decrypt_python_ciphertext'))).toEqual(plaintext);
      expectRefusal(failure(r, 'encrypt_without_usage'), version, 'INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK');

      // RSA-2048: signatures made by the server verify locally with the Get'ed public key.
      const pub = success(r, 'rsa_public_key') as { value: string; format: string };
      expect(pub.format).toBe('PKCS_1');
      const publicKey = createPublicKey({ key: hex(pub.value), format: 'der', type: 'pkcs1' });
      expect(publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
      const signed = hex(input.signed);
      const padding = { pkcs1: { padding: constants.RSA_PKCS1_PADDING }, pss: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO } };
      for (const scheme of ['pkcs1', 'pss'] as const) {
        const sig = hex(success(r, `sign_${scheme}`));
        expect(sig.length).toBe(256);
        expect(verify('sha256', signed, { key: publicKey, ...padding[scheme] }, sig), `${scheme} signature does not verify locally`).toBe(true);
        expect(success(r, `verify_${scheme}`)).toBe('VALID');
        expect(success(r, `verify_altered_${scheme}`)).toBe('INVALID');
      }
      expectRefusal(failure(r, 'sign_with_public'), version, 'INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK');

      // HMAC-SHA256: the server's MAC equals Python's hmac and Node's over the Get'ed key.
      const hmacKey = hex(success(r, 'hmac_key'));
      const mac = success(r, 'mac') as { uid: string; mac: string };
      expect(mac.uid).toBe(input.hmac);
      const expected = createHmac('sha256', hmacKey).update(hex(input.maced)).digest();
      expect(hex(mac.mac)).toEqual(expected);
      expect(hex(success(r, 'python_hmac'))).toEqual(expected);

      success(r, 'destroy_all');
    });
  }
});
