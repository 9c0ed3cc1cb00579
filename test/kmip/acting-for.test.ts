// The gateway's "acting for" credential (src/kmip/acting-for.ts): how the KMIP front rewrites
// an application's request header, and how the Core reads it back.
import { describe, expect, it } from 'vitest';
import { actingForAuthentication, actingForService, withActingFor } from '../../src/kmip/acting-for.ts';
import { buildRequestMessage, parseRequestMessage } from '../../src/kmip/message.ts';
import { enumeration, structure, textString } from '../../src/kmip/items.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { BatchErrorContinuationOption, CredentialType, Operation } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { KmipError } from '../../src/kmip/errors.ts';

const item = { operation: Operation.DiscoverVersions, payload: structure(Tag.RequestPayload, []) };
const userPass = (user: string) => structure(Tag.Credential, [
  enumeration(Tag.CredentialType, CredentialType.UsernameAndPassword),
  structure(Tag.CredentialValue, [textString(Tag.Username, user), textString(Tag.Password, 'secret')]),
]);

describe('acting-for credential', () => {
  for (const v of [{ major: 1, minor: 2 }, { major: 1, minor: 4 }, { major: 2, minor: 1 }]) {
    it(`KMIP ${v.major}.${v.minor}: the application's Authentication is replaced, in header order, and the message still parses`, () => {
      const app = encode(buildRequestMessage({
        protocolVersion: v, authentication: structure(Tag.Authentication, [userPass('billing')]),
        batchErrorContinuationOption: BatchErrorContinuationOption.Continue,
      }, [item]));
      expect(app.includes(Buffer.from('secret'))).toBe(true);
      const out = withActingFor(app, 'orders')!;
      const msg = parseRequestMessage(decode(out));
      expect(actingForService(msg.header.authentication)).toBe('orders');
      // The application's credential (and its password) is gone, not kept beside ours.
      expect(out.includes(Buffer.from('secret'))).toBe(false);
      expect(out.includes(Buffer.from('billing'))).toBe(false);
      const header = (decode(out) as { value: Array<{ tag: number; value: Array<{ tag: number }> }> }).value[0]!.value.map((c) => c.tag);
      expect(header.indexOf(Tag.Authentication)).toBeLessThan(header.indexOf(Tag.BatchErrorContinuationOption));
      expect(msg.batchItems).toHaveLength(1);
      // Without a service: only stripped (a certificate of another CA acts for the gateway's own service).
      const stripped = parseRequestMessage(decode(withActingFor(app, undefined)!));
      expect(stripped.header.authentication).toBeUndefined();
    });
  }

  it('bytes that are not a request message are left to the Core', () => {
    expect(withActingFor(Buffer.from('not ttlv at all'), 'orders')).toBeUndefined();
    expect(withActingFor(encode(textString(Tag.Username, 'x')), 'orders')).toBeUndefined();
  });

  it('reads one service; none without a Username credential; two different ones are Invalid Field', () => {
    expect(actingForService(undefined)).toBeUndefined();
    expect(actingForService(actingForAuthentication('orders'))).toBe('orders');
    expect(actingForService(structure(Tag.Authentication, [structure(Tag.Credential, [enumeration(Tag.CredentialType, CredentialType.Device)])]))).toBeUndefined();
    expect(actingForService(structure(Tag.Authentication, [userPass('orders'), userPass('orders')]))).toBe('orders');
    expect(() => actingForService(structure(Tag.Authentication, [userPass('orders'), userPass('billing')]))).toThrow(KmipError);
    const noUser = structure(Tag.Authentication, [structure(Tag.Credential, [enumeration(Tag.CredentialType, CredentialType.UsernameAndPassword), structure(Tag.CredentialValue, [])])]);
    expect(() => actingForService(noUser)).toThrow(/without a Username/);
  });
});
