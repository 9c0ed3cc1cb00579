// The skip list and the CI gate are data; these checks keep them honest: every entry names
// a vector file that exists, every skip has a reason, and nothing is both skipped and gated.
// The last block replays the CS-BC files whose Decrypt step needs compare.ts rule 4's
// "Decrypt under a server-generated key" case through the real engine.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listVectorFiles, loadSkipList, relativeName, replayFile } from '../../conformance/runner.ts';
import { VECTORS } from '../helpers/vectors.ts';

const CONFORMANCE = join(import.meta.dirname, '../../conformance');

describe('conformance lists', () => {
  it('skip.json names existing files, each with a reason, and stays short', async () => {
    const skip = await loadSkipList(join(CONFORMANCE, 'skip.json'));
    const names = new Set((await listVectorFiles(VECTORS)).map((f) => f.split('/').pop()!));
    const entries = Object.entries(skip);
    expect(entries.length).toBeGreaterThan(0);
    // Short: a tenth of the corpus at most; a failing operation fails, it is not skipped.
    expect(entries.length).toBeLessThanOrEqual(Math.ceil(names.size / 10));
    for (const [file, reason] of entries) {
      expect(names.has(file), `${file} is not a vector file`).toBe(true);
      expect(reason.length, `${file} has no reason`).toBeGreaterThan(40);
    }
  });

  it('gate.json names existing files, none of them skipped', async () => {
    const gate = JSON.parse(readFileSync(join(CONFORMANCE, 'gate.json'), 'utf8')) as { files: string[] };
    const skip = await loadSkipList(join(CONFORMANCE, 'skip.json'));
    const all = new Set((await listVectorFiles(VECTORS)).map((f) => relativeName(VECTORS, f)));
    expect(new Set(gate.files).size).toBe(gate.files.length);
    for (const f of gate.files) {
      expect(all.has(f), `${f} is gated but not in the corpus`).toBe(true);
      expect(skip[f.split('/').pop()!], `${f} is both gated and skipped`).toBeUndefined();
    }
  });

  it('skips no MSGENC-HTTPS case: they are replayed over the HTTPS transport', async () => {
    const skip = await loadSkipList(join(CONFORMANCE, 'skip.json'));
    expect(Object.keys(skip).filter((f) => f.startsWith('MSGENC-HTTPS'))).toEqual([]);
  });

  it('skips CS-RNG-O-2/3/4 (alternatives to O-1) but never O-1 itself', async () => {
    const skip = await loadSkipList(join(CONFORMANCE, 'skip.json'));
    for (const v of ['21', '14']) {
      expect(skip[`CS-RNG-O-1-${v}.xml`]).toBeUndefined();
      for (const n of [2, 3, 4]) expect(skip[`CS-RNG-O-${n}-${v}.xml`]).toMatch(/CS-RNG-O-1/);
    }
  });
});

describe('Decrypt under a server-generated key, through the real engine', () => {
  for (const file of ['2.1/mandatory/CS-BC-M-2-21.xml', '2.1/mandatory/CS-BC-M-3-21.xml', '1.4/mandatory/CS-BC-M-3-14.xml']) {
    it(`passes ${file}`, async () => {
      const { inProcessTransport } = await import('../../conformance/runner.ts');
      const r = await replayFile(join(VECTORS, file), file, { transport: inProcessTransport, checkEncodings: false });
      expect(r.detail).toMatch(/^\d+ step\(s\)$/);
      expect(r.status).toBe('pass');
    });
  }
});
