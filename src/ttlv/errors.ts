/**
 * The one error class that leaves the codec. `offset` is the byte offset of the item (or
 * field) at fault, `path` the chain of tag names from the root, for example
 * `RequestMessage/BatchItem/RequestPayload`.
 */
export type TtlvErrorCode =
  | 'TRUNCATED'
  | 'BAD_TAG'
  | 'BAD_TYPE'
  | 'BAD_LENGTH'
  | 'PAST_PARENT'
  | 'BAD_PADDING'
  | 'BAD_UTF8'
  | 'BAD_BOOLEAN'
  | 'TOO_DEEP'
  | 'TOO_LARGE'
  | 'TOO_MANY_ITEMS'
  | 'TRAILING_BYTES'
  | 'BAD_VALUE'
  | 'PLACEHOLDER'
  | 'SYNTAX';

export class TtlvError extends Error {
  override readonly name = 'TtlvError';
  constructor(
    readonly code: TtlvErrorCode,
    readonly detail: string,
    readonly offset: number,
    readonly path: string,
  ) {
    super(`${detail} at offset ${offset}${path ? ` (${path})` : ''}`);
  }
}
