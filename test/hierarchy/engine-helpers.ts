// Shared fixtures of the hierarchy engine tests: temp dirs, software L1s, and an L1 whose
// behaviour the test steers (hang, fail, report a status) to play an unreachable or revoked
// customer KMS without mocking the engine itself.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SoftwareL1Provider } from '../../src/hsm/software.ts';
import type { L1Description, L1Provider, L1Status } from '../../src/hsm/types.ts';
import { KmipError } from '../../src/kmip/errors.ts';

export class TempDirs {
  private readonly dirs: string[] = [];
  make(prefix = 'openkcm-hier-'): string {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }
  cleanup(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** An L1 in front of a real software provider: 'ok' passes through, 'hang' never answers, 'fail' rejects. */
export class SteeredL1 implements L1Provider {
  mode: 'ok' | 'hang' | 'fail' = 'ok';
  /** When set, status() answers this instead of asking the inner provider. */
  reportStatus: L1Status | undefined;
  calls = { wrap: 0, unwrap: 0, status: 0 };
  constructor(readonly inner: L1Provider) {}

  private gate<T>(f: () => Promise<T>): Promise<T> {
    if (this.mode === 'hang') return new Promise<T>(() => undefined);
    if (this.mode === 'fail') return Promise.reject(new Error('connection refused (steered)'));
    return f();
  }
  wrap(p: Buffer, c: string): Promise<Buffer> {
    this.calls.wrap++;
    return this.gate(() => this.inner.wrap(p, c));
  }
  unwrap(b: Buffer, c: string): Promise<Buffer> {
    this.calls.unwrap++;
    return this.gate(() => this.inner.unwrap(b, c));
  }
  status(): Promise<L1Status> {
    this.calls.status++;
    if (this.reportStatus !== undefined) return Promise.resolve(this.reportStatus);
    return this.gate(() => this.inner.status());
  }
  describe(): L1Description {
    return this.inner.describe();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export async function softwareL1(dirs: TempDirs, name = 'l1.key'): Promise<{ l1: SoftwareL1Provider; keyPath: string }> {
  const keyPath = join(dirs.make('openkcm-l1-'), name);
  return { l1: await SoftwareL1Provider.open(keyPath), keyPath };
}

/** The ResultReason of a rejected KmipError (undefined when it resolved); rethrows any other error. */
export async function reasonOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (e) {
    if (e instanceof KmipError) return e.reason;
    throw e;
  }
  return undefined;
}

export const allZero = (b: Buffer): boolean => b.every((x) => x === 0);
