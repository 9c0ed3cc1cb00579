import { describe, expect, it } from 'vitest';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { dateTime, enumeration, structure, textString, byteString } from '../../src/kmip/items.ts';
import { Bindings, parsePlaceholder, PlaceholderError, substitute, TIME_SLACK_SECONDS } from '../../conformance/placeholders.ts';

const T0 = Date.UTC(2024, 5, 1, 0, 0, 0);
const ph = <I extends TtlvItem>(item: I, raw: string): I => ({ ...item, placeholder: raw });

describe('parsePlaceholder', () => {
  it('reads times and variables', () => {
    expect(parsePlaceholder('$NOW')).toEqual({ kind: 'time', offsetSeconds: 0, raw: '$NOW' });
    expect(parsePlaceholder('$NOW-3600')).toMatchObject({ kind: 'time', offsetSeconds: -3600 });
    expect(parsePlaceholder('$NOW+86400')).toMatchObject({ kind: 'time', offsetSeconds: 86400 });
    expect(parsePlaceholder('$UNIQUE_IDENTIFIER_12')).toMatchObject({ kind: 'var', name: 'UNIQUE_IDENTIFIER_12' });
  });
  it('refuses anything else', () => {
    for (const bad of ['NOW', '$', '$NOW-', '$NOW*2', '$A B', '$1X']) expect(() => parsePlaceholder(bad), bad).toThrow(PlaceholderError);
  });
});

describe('substitute', () => {
  const request = () =>
    structure(Tag.RequestPayload, [
      ph(textString(Tag.UniqueIdentifier, ''), '$UNIQUE_IDENTIFIER_0'),
      ph(dateTime(Tag.ActivationDate, 0n), '$NOW-3600'),
      ph(byteString(Tag.IVCounterNonce, Buffer.alloc(0)), '$IV_COUNTER_NONCE'),
    ]);

  it('replaces variables with the bound server values and times with base+offset', () => {
    const b = new Bindings({ baseMs: T0 });
    b.bind('UNIQUE_IDENTIFIER_0', textString(Tag.UniqueIdentifier, 'srv-42'));
    b.bind('IV_COUNTER_NONCE', byteString(Tag.IVCounterNonce, Buffer.from('0a0b', 'hex')));
    const out = substitute(request(), b);
    expect(out).toEqual(structure(Tag.RequestPayload, [
      textString(Tag.UniqueIdentifier, 'srv-42'),
      dateTime(Tag.ActivationDate, BigInt(T0 / 1000 - 3600)),
      byteString(Tag.IVCounterNonce, Buffer.from('0a0b', 'hex')),
    ]));
    // No placeholder survives, so the strict encoder accepts it.
    expect(() => encode(out)).not.toThrow();
  });

  it('keeps the request tag when a bound value is reused elsewhere, and accepts a 2.x UID in another form', () => {
    const b = new Bindings({ baseMs: T0 });
    b.bind('UNIQUE_IDENTIFIER_0', enumeration(Tag.UniqueIdentifier, 1));
    const link = structure(Tag.Link, [ph(textString(Tag.LinkedObjectIdentifier, ''), '$UNIQUE_IDENTIFIER_0')]);
    expect(substitute(link, b)).toEqual(structure(Tag.Link, [enumeration(Tag.LinkedObjectIdentifier, 1)]));
  });

  it('names the path of a variable used before any response bound it', () => {
    const b = new Bindings({ baseMs: T0 });
    expect(() => substitute(request(), b)).toThrow('RequestPayload/UniqueIdentifier: $UNIQUE_IDENTIFIER_0 is used before any response bound it');
  });

  it('refuses a type change other than between the Unique Identifier forms', () => {
    const b = new Bindings({ baseMs: T0 });
    b.bind('DATA_0', textString(Tag.Data, 'text'));
    expect(() => substitute(ph(byteString(Tag.Data, Buffer.alloc(0)), '$DATA_0'), b)).toThrow(/bound to a TextString but is used as a ByteString/);
    expect(() => substitute(ph(textString(Tag.NameValue, ''), '$NOW'), b)).toThrow(/only date\/time items/);
  });

  it('does not alias the bound value (later mutation of a request cannot change the binding)', () => {
    const b = new Bindings({ baseMs: T0 });
    b.bind('D', byteString(Tag.Data, Buffer.from('01', 'hex')));
    const out = substitute(ph(byteString(Tag.Data, Buffer.alloc(0)), '$D'), b);
    (out.value as Buffer)[0] = 0xff;
    expect((b.get('D')!.value as Buffer)[0]).toBe(1);
  });
});

describe('Bindings', () => {
  it('time window spans base+offset to now+offset with slack', () => {
    const b = new Bindings({ baseMs: T0, clock: () => T0 + 10_500 });
    const [lo, hi] = b.timeWindow(-3600);
    expect(lo).toBe(BigInt(T0 / 1000 - 3600 - TIME_SLACK_SECONDS));
    expect(hi).toBe(BigInt(T0 / 1000 + 11 - 3600 + TIME_SLACK_SECONDS));
  });
  it('snapshot/restore undoes bindings', () => {
    const b = new Bindings();
    const s = b.snapshot();
    b.bind('X', textString(Tag.NameValue, 'x'));
    b.restore(s);
    expect(b.has('X')).toBe(false);
  });
});

describe('unbound variables in requests', () => {
  it('take the most recent value the server returned under the same tag', () => {
    const b = new Bindings({ baseMs: T0 });
    b.observe(structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, 'k'), byteString(Tag.MACData, Buffer.from('aa', 'hex'))]));
    b.observe(structure(Tag.ResponsePayload, [byteString(Tag.MACData, Buffer.from('bb', 'hex'))]));
    const out = substitute(ph(byteString(Tag.MACData, Buffer.alloc(0)), '$MAC_DATA'), b);
    expect(out).toEqual(byteString(Tag.MACData, Buffer.from('bb', 'hex')));
    expect(b.get('MAC_DATA')).toEqual(byteString(Tag.MACData, Buffer.from('bb', 'hex')));
    expect(() => substitute(ph(byteString(Tag.Data, Buffer.alloc(0)), '$DATA_0'), b)).toThrow(/used before any response bound it/);
  });
});
