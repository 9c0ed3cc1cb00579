// Split keys between PyKMIP 0.10 (Debian python3-pykmip) and OpenKCM (issue 13 §1). PyKMIP's
// client has no Create/Join Split Key, Archive/Recover or Certify call (its response payload
// factory does not decode them), so what it can do is covered: it registers Split Key parts
// it made itself (XOR) and gets them back, OpenKCM joins them into the original key; OpenKCM
// splits a key (polynomial sharing over GF(2^8)) and PyKMIP reads the parts as SplitKey
// objects with their fields. test/interop/pykmip_split.py drives PyKMIP.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectType, Operation, SplitKeyMethod } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { child, children, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { KmipClient } from '../../src/client/index.ts';
import { PYTHON, pykmipAvailable, startTestServer, type TestServer } from './harness.ts';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, 'pykmip_split.py');
const VERSIONS = ['1.2', '1.4', '2.0'] as const;

type Outcome = { ok: true; value: unknown } | { ok: false; status?: string; reason?: string; message?: string; error?: string };
interface PartFields { type: string; parts: number; id: number; threshold: number; method: string; algorithm: string | null; length: number; value: string }

function success<T>(r: Record<string, Outcome>, step: string): T {
  const o = r[step];
  expect(o, `step ${step} missing from the report`).toBeDefined();
  if (!o!.ok) expect.fail(`step ${step} failed: ${JSON.stringify(o)}`);
  return (o as { value: T }).value;
}

describe('PyKMIP 0.10 and split keys', () => {
  let server: TestServer;
  let client: KmipClient;
  beforeAll(async () => {
    if (!pykmipAvailable()) throw new Error(`PyKMIP is not importable by ${PYTHON}: apt-get install -y python3-pykmip`);
    server = await startTestServer();
    client = await KmipClient.connect({
      host: server.host, port: server.port, version: { major: 2, minor: 1 },
      ca: readFileSync(server.pki.caCert), cert: readFileSync(server.pki.clientCert), key: readFileSync(server.pki.clientKey),
    });
  }, 60_000);
  afterAll(async () => { await client?.close(); await server?.close(); });

  const py = async (version: string, ...args: string[]) => {
    const { stdout } = await run(PYTHON, [SCRIPT, server.host, String(server.port), server.pki.clientCert, server.pki.clientKey, server.pki.caCert, version, 'split', ...args],
      { timeout: 90_000, maxBuffer: 4 << 20 });
    return JSON.parse(stdout) as Record<string, Outcome>;
  };
  const material = async (uid: string): Promise<Buffer> => {
    const g = await client.request(Operation.Get, [textString(Tag.UniqueIdentifier, uid)]);
    const obj = (child(g, Tag.SymmetricKey) ?? child(g, Tag.SplitKey)) as Struct;
    const kv = child(child(obj, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct;
    return (child(kv, Tag.KeyMaterial) as { value: Buffer }).value;
  };

  for (const version of VERSIONS) {
    it(`KMIP ${version}: parts PyKMIP registers join on the server; parts the server makes read as SplitKey in PyKMIP`, async () => {
      const key = randomBytes(32);
      const reg = await py(version, 'register', key.toString('hex'));
      const uids = success<string[]>(reg, 'uids');
      expect(uids).toHaveLength(2);
      const back = success<PartFields>(reg, 'get_part_2');
      expect(back).toMatchObject({ type: 'SplitKey', parts: 2, id: 2, threshold: 2, method: 'XOR', algorithm: 'AES', length: 256 });
      const joined = (child(await client.request(Operation.JoinSplitKey, [
        enumeration(Tag.ObjectType, ObjectType.SymmetricKey), ...uids.map((u) => textString(Tag.UniqueIdentifier, u)),
      ]), Tag.UniqueIdentifier) as { value: string }).value;
      expect((await material(joined)).equals(key)).toBe(true);

      const split = await client.request(Operation.CreateSplitKey, [
        enumeration(Tag.ObjectType, ObjectType.SplitKey), textString(Tag.UniqueIdentifier, joined),
        integer(Tag.SplitKeyParts, 3), integer(Tag.SplitKeyThreshold, 2), enumeration(Tag.SplitKeyMethod, SplitKeyMethod.PolynomialSharingGF2_8),
        structure(Tag.Attributes, []),
      ]);
      const parts = children(split, Tag.UniqueIdentifier).map((c) => (c as { value: string }).value);
      expect(parts).toHaveLength(3);
      const got = await py(version, 'get', ...parts);
      for (let i = 0; i < 3; i++) {
        const f = success<PartFields>(got, `get_${i}`);
        expect(f).toMatchObject({ type: 'SplitKey', parts: 3, id: i + 1, threshold: 2, method: 'POLYNOMIAL_SHARING_GF_2_8', algorithm: 'AES', length: 256 });
        expect(f.value).toBe((await material(parts[i]!)).toString('hex'));
        expect(f.value).not.toBe(key.toString('hex'));
      }
    }, 180_000);
  }
});
