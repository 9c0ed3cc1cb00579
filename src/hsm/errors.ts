// The L1 providers' error (DESIGN.md §2), apart from every provider module: the factory in
// index.ts validates configurations with it, and a process that must never load a provider
// (the CMK, issue 10: "no L1 call in the CMK") imports only this file and index.ts.
import type { L1Status } from './types.ts';

/** Raised by L1 providers; the message never contains key material. */
export class L1Error extends Error {
  override readonly name = 'L1Error';
  constructor(
    message: string,
    /** What status() would report for this failure, when it is about the key's availability. */
    readonly status?: Exclude<L1Status['state'], 'active'>,
  ) {
    super(message);
  }
}
