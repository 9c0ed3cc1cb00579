/**
 * An error that reaches the client as a failed batch item (DESIGN.md §6.4): it always
 * carries a ResultReason (2.1 s.11.46). Anything else thrown inside an operation becomes
 * GeneralFailure with a generic message and a full log line.
 */
export class KmipError extends Error {
  override readonly name = 'KmipError';
  constructor(
    readonly reason: number,
    message: string,
  ) {
    super(message);
  }
}
