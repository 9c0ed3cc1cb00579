// The issue 13 §1 operations from a KMIP 1.x client over mutual TLS: the 1.x adapters carry
// Template-Attributes (the issuer Link of Certify), the Certificate Request of 1.x, Archive /
// Recover with the 1.x Object Archived reason, and Create / Join Split Key (1.2).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, LinkType, ObjectType, Operation, ResultReason, ResultStatus, SplitKeyMethod,
} from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { child, children, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { KmipClient } from '../../src/client/index.ts';
import { startTestServer, type TestServer } from '../interop/harness.ts';

const A = (name: string, v: TtlvItem) => structure(Tag.Attribute, [textString(Tag.AttributeName, name), { ...v, tag: Tag.AttributeValue } as TtlvItem]);
const UID = (u: string) => textString(Tag.UniqueIdentifier, u);
const uidOf = (s: Struct, tag: number = Tag.UniqueIdentifier) => (child(s, tag) as { value: string }).value;

describe('issue 13 §1 operations from KMIP 1.x clients', () => {
  let server: TestServer;
  const clients: KmipClient[] = [];
  const connect = async (minor: number) => {
    const c = await KmipClient.connect({
      host: server.host, port: server.port, version: { major: 1, minor },
      ca: readFileSync(server.pki.caCert), cert: readFileSync(server.pki.clientCert), key: readFileSync(server.pki.clientKey),
    });
    clients.push(c);
    return c;
  };
  beforeAll(async () => { server = await startTestServer(); }, 60_000);
  afterAll(async () => { for (const c of clients) await c.close(); await server?.close(); });

  it('1.4: a CA root by Certify with the issuer Link in the Template-Attribute; Re-certify; Archive / Recover', async () => {
    const c = await connect(4);
    const kp = await c.request(Operation.CreateKeyPair, [
      structure(Tag.CommonTemplateAttribute, [A('Cryptographic Algorithm', enumeration(0, Alg.EC)), A('Cryptographic Length', integer(0, 256))]),
      structure(Tag.PrivateKeyTemplateAttribute, [A('Cryptographic Usage Mask', integer(0, CUM.Sign | CUM.CertificateSign))]),
      structure(Tag.PublicKeyTemplateAttribute, [A('Cryptographic Usage Mask', integer(0, CUM.Verify))]),
    ]);
    const priv = uidOf(kp, Tag.PrivateKeyUniqueIdentifier);
    const pub = uidOf(kp, Tag.PublicKeyUniqueIdentifier);
    await c.request(Operation.Activate, [UID(priv)]);
    const root = uidOf(await c.request(Operation.Certify, [UID(pub), structure(Tag.TemplateAttribute, [
      A('Link', structure(0, [enumeration(Tag.LinkType, LinkType.PrivateKeyLink), textString(Tag.LinkedObjectIdentifier, priv)])),
    ])]));
    const got = await c.request(Operation.Get, [UID(root)]);
    const der = (child(child(got, Tag.Certificate) as Struct, Tag.CertificateValue) as { value: Buffer }).value;
    const x = new X509Certificate(der);
    expect(x.ca).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    const renewed = uidOf(await c.request(Operation.ReCertify, [UID(root)]));
    expect(renewed).not.toBe(root);

    await c.request(Operation.Archive, [UID(pub)]);
    const refused = await c.requestItem(Operation.Get, [UID(pub)]);
    expect(refused.resultStatus).toBe(ResultStatus.OperationFailed);
    expect(refused.resultReason).toBe(ResultReason.ObjectArchived);
    const located = await c.request(Operation.Locate, [integer(Tag.StorageStatusMask, 2)]);
    expect(children(located, Tag.UniqueIdentifier).map((u) => (u as { value: string }).value)).toEqual([pub]);
    await c.request(Operation.Recover, [UID(pub)]);
    expect((await c.requestItem(Operation.Get, [UID(pub)])).resultStatus).toBe(ResultStatus.Success);
  }, 60_000);

  it('1.2: Create Split Key of a new key from a Template-Attribute, Join Split Key', async () => {
    const c = await connect(2);
    const parts = children(await c.request(Operation.CreateSplitKey, [
      enumeration(Tag.ObjectType, ObjectType.SplitKey), integer(Tag.SplitKeyParts, 4), integer(Tag.SplitKeyThreshold, 3),
      enumeration(Tag.SplitKeyMethod, SplitKeyMethod.PolynomialSharingGF2_16),
      structure(Tag.TemplateAttribute, [A('Cryptographic Algorithm', enumeration(0, Alg.AES)), A('Cryptographic Length', integer(0, 128))]),
    ]), Tag.UniqueIdentifier).map((u) => (u as { value: string }).value);
    expect(parts).toHaveLength(4);
    const joined = uidOf(await c.request(Operation.JoinSplitKey, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), ...parts.slice(1).map(UID)]));
    const again = uidOf(await c.request(Operation.JoinSplitKey, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), UID(parts[0]!), UID(parts[2]!), UID(parts[3]!)]));
    const bytes = async (u: string) => {
      const g = await c.request(Operation.Get, [UID(u)]);
      const kb = child(child(g, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct;
      return (child(child(kb, Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer }).value;
    };
    expect((await bytes(joined)).equals(await bytes(again))).toBe(true);
    expect(await bytes(joined)).toHaveLength(16);
  }, 60_000);
});
