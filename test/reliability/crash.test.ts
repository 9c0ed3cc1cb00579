// Issue 16 §4 "Crash durability": `openkcm serve` killed with SIGKILL under 32-connection
// Create/Register load, three times in a row. After each kill the database passes
// `PRAGMA integrity_check`, and after each restart every object whose Create or Register
// was acknowledged (a Success response reached the client) is there with its exact key
// bytes — those of every earlier round too. Register sends known random bytes; for Create
// the bytes are read back with Get right after the acknowledgement (a Create acknowledged
// but killed before its Get is still checked for existence and length).
// The store answers only after the WAL flush that covers its commit (group commit,
// src/store/wal-durability.ts: fdatasync off the event loop, as durable as synchronous=FULL),
// so the expected number of lost acknowledged objects is 0. SIGKILL kills the process, not
// the machine: power loss is not simulated here (the fdatasync before the answer covers it).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { KmipClient } from '../../src/client/index.ts';
import { byteString, child, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, Operation, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { startServerProcess, type ServerProcess } from '../../scripts/fuzz/server-process.ts';

const CONNECTIONS = 32;
const ROUNDS = 3;
/** Kill after this many acknowledgements in the round, or after LOAD_MS, whichever is first. */
const ACKS_BEFORE_KILL = 400;
const LOAD_MS = 15_000;

const dirs: string[] = [];
let server: ServerProcess | undefined;
afterAll(async () => {
  if (server) { server.crashAll(); await server.exited; }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const aesAttributes = () => structure(Tag.Attributes, [
  enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
  integer(Tag.CryptographicLength, 256),
  integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
]);
const registerPayload = (key: Buffer): TtlvItemList => [
  enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
  aesAttributes(),
  structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
    enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
    structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)]),
    enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
    integer(Tag.CryptographicLength, 256),
  ])]),
];
type TtlvItemList = Parameters<KmipClient['request']>[1];

const uidOf = (p: Struct) => (child(p, Tag.UniqueIdentifier) as { value: string }).value;

/** The Raw key bytes of a symmetric key, by Get with Key Format Type Raw. */
async function getRaw(c: KmipClient, uid: string): Promise<Buffer> {
  const p = await c.request(Operation.Get, [textString(Tag.UniqueIdentifier, uid), enumeration(Tag.KeyFormatType, KeyFormatType.Raw)]);
  const km = child(child(child(child(p, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct, Tag.KeyMaterial);
  if (km?.type !== 'ByteString') throw new Error(`object ${uid}: Get returned no Raw key material`);
  return km.value;
}

interface Acknowledged {
  /** uid → exact key bytes (undefined: a Create acknowledged, killed before its Get). */
  objects: Map<string, Buffer | undefined>;
}

/** One connection's loop until the server dies: Register (known bytes) and Create + Get, alternately. */
async function load(s: ServerProcess, ack: Acknowledged, roundAcks: { n: number }, w: number): Promise<void> {
  let c: KmipClient;
  try {
    c = await KmipClient.connect({ host: '127.0.0.1', port: s.port, ...s.tls(), servername: 'localhost', timeoutMs: 60_000 });
  } catch {
    return; // killed before this connection was up
  }
  try {
    for (let i = 0; ; i++) {
      if ((i + w) % 2 === 0) {
        const key = randomBytes(32);
        const uid = uidOf(await c.request(Operation.Register, registerPayload(key)));
        ack.objects.set(uid, key);
      } else {
        const uid = uidOf(await c.request(Operation.Create, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), aesAttributes()]));
        ack.objects.set(uid, undefined);
        ack.objects.set(uid, await getRaw(c, uid));
      }
      roundAcks.n++;
    }
  } catch {
    // The server was killed: every request not answered is simply not acknowledged.
  } finally {
    await c.close().catch(() => undefined);
  }
}

// One process as before workers existed, and `--workers 2` (issue 12): there the primary and
// both workers are SIGKILLed at the same instant (the process group), each worker having
// its own group commit on the shared database.
describe.each([
  { workers: 1, rounds: ROUNDS },
  { workers: 2, rounds: 2 },
])('crash durability, $workers worker(s)', ({ workers, rounds }) => {
  it(`SIGKILL under ${CONNECTIONS}-connection Create/Register load, ${rounds} times: nothing acknowledged is lost, integrity ok`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-crash-'));
    dirs.push(dir);
    const ack: Acknowledged = { objects: new Map() };
    const perRound: Array<{ acknowledged: number; checked: number; integrity: string }> = [];
    for (let round = 1; round <= rounds; round++) {
      server = await startServerProcess({ cwd: dir, args: ['--log-level', 'warn'], workers });
      const s = server;
      const roundAcks = { n: 0 };
      const loops = Array.from({ length: CONNECTIONS }, (_, w) => load(s, ack, roundAcks, w));
      const start = Date.now();
      while (roundAcks.n < ACKS_BEFORE_KILL && Date.now() - start < LOAD_MS && s.child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(s.child.exitCode, `server died on its own in round ${round}:\n${s.stderr()}`).toBeNull();
      // Mid-load: 32 connections have requests in flight at this moment.
      s.crashAll();
      const exit = await s.exited;
      expect(exit.signal).toBe('SIGKILL');
      await Promise.all(loops);
      server = undefined;

      // The file as the crash left it (WAL included): SQLite's own consistency check.
      const db = new Database(join(dir, 'data', 'openkcm.db'));
      const integrity = db.pragma('integrity_check', { simple: true }) as string;
      db.close();
      expect(integrity).toBe('ok');

      // Restart on the same data; every object ever acknowledged, with its exact bytes.
      server = await startServerProcess({ cwd: dir, args: ['--log-level', 'warn'], workers });
      const c = await KmipClient.connect({ host: '127.0.0.1', port: server.port, ...server.tls(), servername: 'localhost', timeoutMs: 60_000 });
      const lost: string[] = [];
      for (const [uid, key] of ack.objects) {
        try {
          const got = await getRaw(c, uid);
          if (key !== undefined ? !got.equals(key) : got.length !== 32) lost.push(`${uid}: different bytes`);
        } catch (e) {
          lost.push(`${uid}: ${(e as Error).message}`);
        }
      }
      await c.close();
      expect(lost, `round ${round}: acknowledged objects lost or changed`).toEqual([]);
      perRound.push({ acknowledged: roundAcks.n, checked: ack.objects.size, integrity });
      await server.stop();
      server = undefined;
    }
    // The load really ran in every round (an empty round would prove nothing).
    for (const r of perRound) expect(r.acknowledged).toBeGreaterThan(20);
    console.log(`crash durability: ${JSON.stringify(perRound)}; lost 0`);
  }, 600_000);
});
