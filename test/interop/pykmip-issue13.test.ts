// Issue 13 §2, §4, §5 with the real client: PyKMIP 0.10 (Debian python3-pykmip) creates keys
// of the symmetric algorithms its integration suite uses, reads the Attribute Index of a
// single Name in 1.x, and deletes a Name through the 2.x Attribute Reference structure with
// an empty Vendor Identification; registers an XOR part with threshold < parts and reads an
// ASCII Result Message. test/interop/pykmip_issue13.py drives it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PYTHON, pykmipAvailable, startTestServer, type TestServer } from './harness.ts';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, 'pykmip_issue13.py');
const VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0'] as const;

type Outcome = { ok: true; value: unknown } | { ok: false; status?: string; reason?: string; message?: string; error?: string; trace?: string };

function success(r: Record<string, Outcome>, step: string): unknown {
  const o = r[step];
  expect(o, `step ${step} missing from the report`).toBeDefined();
  if (!o!.ok) expect.fail(`step ${step} failed: ${JSON.stringify(o)}`);
  return (o as { value: unknown }).value;
}

describe('PyKMIP 0.10 and issue 13', () => {
  let server: TestServer;
  beforeAll(async () => {
    if (!pykmipAvailable()) throw new Error(`PyKMIP is not importable by ${PYTHON}: apt-get install -y python3-pykmip`);
    server = await startTestServer();
  });
  afterAll(async () => { await server?.close(); });

  for (const version of VERSIONS) {
    it(`KMIP ${version}: IDEA, Blowfish, Camellia, CAST5, RC4, Twofish and two- and three-key 3DES; Attribute Index 0 (Get, Modify, Delete); Name deleted; XOR part 2 of 3 registered; ASCII Result Message`, async () => {
      const { stdout } = await run(
        PYTHON,
        [SCRIPT, server.host, String(server.port), server.pki.clientCert, server.pki.clientKey, server.pki.caCert, version, 'i13'],
        { timeout: 90_000, maxBuffer: 4 << 20 },
      );
      const r = JSON.parse(stdout) as Record<string, Outcome>;
      for (const [alg, bytes] of [['idea', 16], ['blowfish', 16], ['camellia', 32], ['cast5', 16], ['rc4', 16], ['twofish', 32], ['tdes_2key', 16], ['tdes_3key', 24]] as const) {
        expect(typeof success(r, `create_${alg}`)).toBe('string');
        expect(success(r, `get_${alg}`)).toBe(bytes);
      }
      // 1.4 s.2.1.1: a 1.x client addresses instances by index; the single Name is index 0.
      if (version !== '2.0') expect(success(r, 'get_name_index')).toEqual([{ name: 'Name', index: 0 }]);
      if (version !== '2.0') {
        // 1.4 s.4.15-4.16: the 1.x Modify / Delete Attribute responses carry the Name's index 0.
        expect(success(r, 'modify_name_v1')).toEqual({ name: 'Name', index: 0, value: `issue13-modified-i13-${version}` });
        expect(success(r, 'delete_name_v1')).toEqual({ name: 'Name', index: 0 });
      } else {
        success(r, 'delete_name_empty_vendor');
      }
      expect(success(r, 'names_after_delete')).toEqual([]);
      expect(typeof success(r, 'register_pkcs1_as_pkcs8')).toBe('string');
      expect(success(r, 'get_pkcs1_as_pkcs8')).toEqual({ format: 'PKCS_1', same_bytes: true });
      expect(typeof success(r, 'register_wrapped_unknown_kek')).toBe('string');
      expect(success(r, 'get_wrapped_unknown_kek')).toEqual({
        value: Buffer.from(Array.from({ length: 24 }, (_, i) => i)).toString('hex'),
        // Encoding Option is a 1.1 field of Key Wrapping Data: a 1.0 client does not get it back.
        method: 'ENCRYPT', kek: 'client-kek', mode: 'NIST_KEY_WRAP', encoding: version === '1.0' ? null : 'NO_ENCODING',
      });
      expect(typeof success(r, 'register_xor_2_of_3')).toBe('string');
      expect(success(r, 'get_xor_2_of_3')).toEqual({ value: Buffer.from(Array.from({ length: 16 }, (_, i) => i)).toString('hex'), parts: 3, threshold: 2 });
      expect(r['register_aes_512']).toMatchObject({ ok: false, status: 'OPERATION_FAILED', reason: 'INVALID_FIELD' });
      expect((r['register_aes_512'] as { message?: string }).message).toMatch(/Cryptographic Length 512 is not valid for AES \(FIPS 197 s\.5/);
    }, 120_000);
  }
});
