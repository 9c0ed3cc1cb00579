// Real-client interoperability (issue 5 "Real-client suite", issue 3 §6): PyKMIP's client
// (Debian python3-pykmip 0.10) drives OpenKCM over mutual TLS, once per protocol version
// it speaks. test/interop/pykmip_client.py runs the operations and prints what it saw.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENUMERATIONS, ResultReason } from '../../src/ttlv/generated/enumerations.ts';
import { atLeast, type ProtocolVersion } from '../../src/kmip/version.ts';
import { PYTHON, pykmipAvailable, startTestServer, type TestServer } from './harness.ts';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, 'pykmip_client.py');
const VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0'] as const;

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

function success(r: Report, step: string): unknown {
  const o = r[step];
  expect(o, `step ${step} missing from the report`).toBeDefined();
  if (!o!.ok) expect.fail(`step ${step} failed: ${JSON.stringify(o)}`);
  return (o as { value: unknown }).value;
}

function failure(r: Report, step: string) {
  const o = r[step]!;
  expect(o, `step ${step} missing`).toBeDefined();
  if (o.ok) expect.fail(`step ${step} succeeded but must fail: ${JSON.stringify(o.value)}`);
  const f = o as Extract<Outcome, { ok: false }>;
  // The client must have understood the answer: a KMIP failure, not a client crash.
  expect(f.error, `PyKMIP could not process the answer to ${step}: ${f.trace ?? ''}`).toBeUndefined();
  expect(f.status).toBe('OPERATION_FAILED');
  return f;
}

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
      // First, every answer must have been readable by the client at all.
      const unreadable = Object.entries(r)
        .filter(([, o]) => typeof o === 'object' && o !== null && 'error' in o && o.error !== undefined)
        .map(([step, o]) => `${step}: ${(o as { error: string }).error}`);
      expect(unreadable, 'PyKMIP could not process these answers').toEqual([]);

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
});
