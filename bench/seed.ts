// Seeds an `openkcm serve` directory with many stored objects, fast (issue 12 §1 "1 000 000
// stored objects"): rows are written through the store, not over KMIP, but each one is what
// a KMIP Create makes — the same attribute set (operations/common/new-object.ts
// storeNewObject, called here with Create's spec), a fresh random AES-256 key wrapped under
// the tenant's L3 by the key hierarchy (L4 blob bound to its place), one row per object plus
// its Name. No audit records are written (no request was made).
//
//   node --import tsx bench/seed.ts --dir DIR [--objects 1000000] [--batch 2000]
//
// DIR gets the layout `openkcm serve` uses when run inside it: certs/ (development PKI,
// generated when absent) and data/openkcm.db. Objects are named `seed-<n>` (n from 0, zero
// padded to 7 digits) in tenant default, service default, so a client with the development
// certificate finds them (bench/scale.ts). Seeding again continues after the highest
// number already stored.
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ensureDevPki } from '../src/server/devpki.ts';
import { openRuntime } from '../src/server/runtime.ts';
import { createObjectRepository } from '../src/hierarchy/repository.ts';
import { keyBlock, storeNewObject } from '../src/operations/common/new-object.ts';
import type { OperationContext } from '../src/operations/types.ts';
import { byteString, enumeration, integer, structure, textString } from '../src/kmip/items.ts';
import { Tag } from '../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, NameType, ObjectType } from '../src/ttlv/generated/enumerations.ts';
import { generateSymmetricKey } from '../src/crypto/keys.ts';
import { parseFlags, positiveNumber, usage, OptionError, type FlagSpec } from './lib/options.ts';

const FLAGS: FlagSpec[] = [
  { flag: '--dir', value: true, help: 'directory to seed (certs/ and data/ inside it, as `openkcm serve` run there)' },
  { flag: '--objects', value: true, help: 'objects to add (default 1000000)' },
  { flag: '--start', value: true, help: 'number of the first name (default: after the highest seeded); several seeders on disjoint ranges share the database' },
  { flag: '--batch', value: true, help: 'objects in flight at once; the store group-commits each turn (default 2000)' },
  { flag: '--help', value: false, help: 'this text' },
];

export const SEED_TENANT = 'default';
export const SEED_SERVICE = 'default';
export const seedName = (n: number): string => `seed-${String(n).padStart(7, '0')}`;

async function main(): Promise<void> {
  let flags: Map<string, string>;
  try {
    flags = parseFlags(process.argv.slice(2), FLAGS);
  } catch (e) {
    if (e instanceof OptionError) {
      process.stderr.write(`seed: ${e.message}\n${usage('node --import tsx bench/seed.ts', FLAGS)}`);
      process.exit(2);
    }
    throw e;
  }
  if (flags.has('--help')) {
    process.stdout.write(usage('node --import tsx bench/seed.ts', FLAGS));
    return;
  }
  const dirFlag = flags.get('--dir');
  if (dirFlag === undefined) {
    process.stderr.write(`seed: --dir is required\n${usage('node --import tsx bench/seed.ts', FLAGS)}`);
    process.exit(2);
  }
  const dir = resolve(dirFlag);
  const total = Math.floor(positiveNumber(flags.get('--objects'), 'objects', 1_000_000));
  const batch = Math.floor(positiveNumber(flags.get('--batch'), 'batch', 2_000));

  const { generated } = await ensureDevPki(join(dir, 'certs'));
  if (generated) process.stderr.write(`seed: development PKI written to ${join(dir, 'certs')}\n`);
  // The client certificate becomes admin of default/default, as at `openkcm serve`'s first start.
  const runtime = await openRuntime({ dataDir: join(dir, 'data'), bootstrapClientCertFile: join(dir, 'certs', 'client.crt') });
  try {
    const db = runtime.local.database;
    // A seed is rebuilt, not recovered: no fsync per group commit while seeding (the server
    // that reads it later runs with synchronous=FULL as always). The WAL is checkpointed at close.
    db.pragma('synchronous = OFF');
    // Seeders on disjoint ranges take turns at the write lock with transactions of thousands
    // of rows: wait for it longer than a server would.
    db.pragma('busy_timeout = 300000');
    const last = db.prepare("SELECT MAX(name) AS n FROM object_names WHERE tenant = ? AND name LIKE 'seed-%'").get(SEED_TENANT) as { n: string | null };
    const start = flags.get('--start');
    const first = start !== undefined ? Math.floor(Number(start)) : last.n === null ? 0 : Number(last.n.slice(5)) + 1;
    if (!Number.isSafeInteger(first) || first < 0) throw new OptionError(`--start: expected a whole number ≥ 0, got "${start}"`);
    const repo = createObjectRepository(runtime.store, runtime.hierarchy.protector, { tenant: SEED_TENANT, service: SEED_SERVICE });
    // storeNewObject reads the clock and writes through ctx.objects only.
    const ctx = { now: () => new Date(), objects: repo } as unknown as OperationContext;
    const one = async (n: number) => {
      const material = generateSymmetricKey(CryptographicAlgorithm.AES, 256);
      const attributes = [
        enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
        integer(Tag.CryptographicLength, 256),
        integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
        structure(Tag.Name, [textString(Tag.NameValue, seedName(n)), enumeration(Tag.NameType, NameType.UninterpretedTextString)]),
      ];
      const value = structure(Tag.SymmetricKey, [keyBlock(KeyFormatType.Raw, byteString(Tag.KeyMaterial, material), CryptographicAlgorithm.AES, 256)]);
      await storeNewObject(ctx, {
        objectType: ObjectType.SymmetricKey, attributes, value, generated: true,
        derived: [enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 256)],
        parsed: { kind: 'symmetric', bytes: material },
      });
      material.fill(0);
    };
    const began = performance.now();
    let done = 0;
    let lastReport = began;
    for (let n = first; n < first + total; n += batch) {
      const end = Math.min(first + total, n + batch);
      const work: Promise<void>[] = [];
      for (let i = n; i < end; i++) work.push(one(i));
      await Promise.all(work);
      done += end - n;
      const now = performance.now();
      if (now - lastReport > 5_000 || done === total) {
        lastReport = now;
        process.stderr.write(`seed: ${done}/${total} objects, ${Math.round(done / ((now - began) / 1000))}/s\n`);
      }
    }
    const seconds = (performance.now() - began) / 1000;
    const count = (db.prepare('SELECT COUNT(*) AS c FROM objects').get() as { c: number }).c;
    process.stdout.write(`${JSON.stringify({ added: total, first: seedName(first), last: seedName(first + total - 1), seconds: Math.round(seconds), perSecond: Math.round(total / seconds), objectsInStore: count })}\n`);
  } finally {
    await runtime.close();
  }
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(dir, 'data', 'openkcm.db'));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

// Run only as a program: bench/scale.ts imports the names above.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
