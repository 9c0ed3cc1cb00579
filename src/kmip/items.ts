// Small helpers to read and build TTLV trees in the spec's vocabulary. Operations work on
// 2.1-shaped trees (the internal model); these keep that code short and typed.
import { Tag, type TagName } from '../ttlv/generated/tags.ts';
import type { TtlvItem, TtlvOf } from '../ttlv/types.ts';
import { KmipError } from './errors.ts';
import { ResultReason } from '../ttlv/generated/enumerations.ts';

export type Struct = TtlvOf<'Structure'>;

export const structure = (tag: number, value: TtlvItem[]): Struct => ({ tag, type: 'Structure', value });
export const integer = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
export const longInteger = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'LongInteger', value });
export const bigInteger = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'BigInteger', value });
export const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
export const boolean = (tag: number, value: boolean): TtlvItem => ({ tag, type: 'Boolean', value });
export const textString = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
export const byteString = (tag: number, value: Buffer): TtlvItem => ({ tag, type: 'ByteString', value });
export const dateTime = (tag: number, value: Date | bigint): TtlvItem => ({
  tag, type: 'DateTime', value: typeof value === 'bigint' ? value : BigInt(Math.floor(value.getTime() / 1000)),
});
export const interval = (tag: number, value: number): TtlvItem => ({ tag, type: 'Interval', value });

export function isStructure(item: TtlvItem | undefined): item is Struct {
  return item !== undefined && item.type === 'Structure';
}

/** First child with the tag, or undefined. */
export function child(s: Struct, tag: number): TtlvItem | undefined {
  for (const c of s.value) if (c.tag === tag) return c;
  return undefined;
}

/** All children with the tag, in order. */
export function children(s: Struct, tag: number): TtlvItem[] {
  return s.value.filter((c) => c.tag === tag);
}

function tagName(tag: number): string {
  for (const [n, v] of Object.entries(Tag)) if (v === tag) return n;
  return '0x' + tag.toString(16);
}

function wrongType(tag: number, want: string, got: TtlvItem): never {
  throw new KmipError(ResultReason.InvalidField, `${tagName(tag)} must be a ${want}, got ${got.type}`);
}

/** Typed accessors: undefined when absent, KmipError(InvalidField) when present with the wrong type. */
export function optText(s: Struct, tag: number): string | undefined {
  const c = child(s, tag);
  if (c === undefined) return undefined;
  return c.type === 'TextString' ? c.value : wrongType(tag, 'Text String', c);
}
export function optEnum(s: Struct, tag: number): number | undefined {
  const c = child(s, tag);
  if (c === undefined) return undefined;
  return c.type === 'Enumeration' ? c.value : wrongType(tag, 'Enumeration', c);
}
export function optInt(s: Struct, tag: number): number | undefined {
  const c = child(s, tag);
  if (c === undefined) return undefined;
  return c.type === 'Integer' ? c.value : wrongType(tag, 'Integer', c);
}
export function optBool(s: Struct, tag: number): boolean | undefined {
  const c = child(s, tag);
  if (c === undefined) return undefined;
  return c.type === 'Boolean' ? c.value : wrongType(tag, 'Boolean', c);
}
export function optBytes(s: Struct, tag: number): Buffer | undefined {
  const c = child(s, tag);
  if (c === undefined) return undefined;
  return c.type === 'ByteString' ? c.value : wrongType(tag, 'Byte String', c);
}
export function optDate(s: Struct, tag: number): bigint | undefined {
  const c = child(s, tag);
  if (c === undefined) return undefined;
  return c.type === 'DateTime' ? c.value : wrongType(tag, 'Date Time', c);
}
export function optStruct(s: Struct, tag: number): Struct | undefined {
  const c = child(s, tag);
  if (c === undefined) return undefined;
  return c.type === 'Structure' ? c : wrongType(tag, 'Structure', c);
}

/** Required variants: KmipError(InvalidField) naming the missing field (s.6.1.x error tables). */
export function required<T>(v: T | undefined, tag: number, reason: number = ResultReason.InvalidField): T {
  if (v === undefined) throw new KmipError(reason, `${tagName(tag)} is required`);
  return v;
}

export { Tag, type TagName };
