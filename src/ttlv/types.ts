import type { ItemTypeName } from './generated/itemTypes.ts';

/**
 * JavaScript representation of each item type's value:
 * - Integer, Enumeration, Interval: number (32-bit; Integer signed, the others unsigned)
 * - LongInteger, BigInteger: bigint
 * - DateTime: bigint, POSIX seconds (s.10.1.2); DateTimeExtended: bigint, POSIX microseconds
 * - ByteString: Buffer (the decoder returns views into the input unless asked to copy)
 * - Structure: the children, in wire order
 */
export interface TtlvValueMap {
  Structure: TtlvItem[];
  Integer: number;
  LongInteger: bigint;
  BigInteger: bigint;
  Enumeration: number;
  Boolean: boolean;
  TextString: string;
  ByteString: Buffer;
  DateTime: bigint;
  Interval: number;
  DateTimeExtended: bigint;
}

/**
 * One TTLV item. `placeholder` is set only by the XML/JSON readers for test-vector
 * variables such as `$UNIQUE_IDENTIFIER_0` or `$NOW-3600`; the binary encoder refuses an
 * item that still carries one, so an unsubstituted variable can never reach the wire.
 */
export type TtlvItem = {
  [K in ItemTypeName]: { tag: number; type: K; value: TtlvValueMap[K]; placeholder?: string };
}[ItemTypeName];

export type TtlvOf<K extends ItemTypeName> = Extract<TtlvItem, { type: K }>;

export type { ItemTypeName };
