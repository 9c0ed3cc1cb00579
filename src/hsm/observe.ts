// L1 calls seen from outside (issue 14 §2: "L1 calls and latency by provider and outcome").
// Every provider the factory opens is wrapped here, so no provider module and no caller of
// wrap/unwrap/status has to know about metrics; the server installs one observer for the
// process (observeL1Calls) and turns it into Prometheus series. The observer is read at
// each call, not at open, so providers opened before it was installed report too.
import { L1Error } from './errors.ts';
import type { L1Provider, L1Status } from './types.ts';

export type L1Operation = 'wrap' | 'unwrap' | 'status';

/**
 * `outcome`: for wrap/unwrap `ok`, or the status an L1Error names (`revoked`, `disabled`,
 * `unreachable`), else `error`; for status the state it reported (`active`, …) or `error`
 * when it threw. Never a message: messages may name key references, outcomes are a fixed set.
 */
export type L1CallObserver = (provider: string, operation: L1Operation, outcome: string, seconds: number) => void;

let current: L1CallObserver | undefined;

/** Installs the process's observer (undefined removes it); returns the one it replaced. */
export function observeL1Calls(fn: L1CallObserver | undefined): L1CallObserver | undefined {
  const before = current;
  current = fn;
  return before;
}

const outcomeOf = (e: unknown): string => (e instanceof L1Error && e.status !== undefined ? e.status : 'error');

/** `p` with each wrap/unwrap/status reported to the observer installed at the time of the call. */
export function observedL1(p: L1Provider): L1Provider {
  if ((p as { [OBSERVED]?: true })[OBSERVED]) return p;
  const name = p.describe().provider;
  const timed = async <T>(operation: L1Operation, call: () => Promise<T>, outcome: (v: T) => string): Promise<T> => {
    const fn = current;
    if (fn === undefined) return call();
    const started = process.hrtime.bigint();
    try {
      const v = await call();
      fn(name, operation, outcome(v), Number(process.hrtime.bigint() - started) / 1e9);
      return v;
    } catch (e) {
      fn(name, operation, outcomeOf(e), Number(process.hrtime.bigint() - started) / 1e9);
      throw e;
    }
  };
  const ok = () => 'ok';
  const wrapped: L1Provider & { [OBSERVED]: true } = {
    [OBSERVED]: true,
    wrap: (plaintext, context) => timed('wrap', () => p.wrap(plaintext, context), ok),
    unwrap: (blob, context) => timed('unwrap', () => p.unwrap(blob, context), ok),
    status: () => timed('status', () => p.status(), (s: L1Status) => s.state),
    describe: () => p.describe(),
    close: () => p.close(),
  };
  if (p.forgetContext !== undefined) wrapped.forgetContext = (context) => p.forgetContext!(context);
  return wrapped;
}

const OBSERVED: unique symbol = Symbol('openkcm.l1.observed');
