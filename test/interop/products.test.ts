// Real products' KMIP traffic (CLIENTS.md), reproduced with the project's own client where
// PyKMIP cannot: the request trees are built in the 1.x shapes those products send
// (Template-Attribute, Attribute{Attribute Name, Attribute Value}), in their versions, over
// mutual TLS. Every response is also checked to hold nothing the request's version lacks:
// Percona's and Veeam's clients break on tags or attributes from later versions.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmipClient } from '../../src/client/index.ts';
import { buildRequestMessage, parseResponseMessage, type ResponseBatchItem } from '../../src/kmip/message.ts';
import { byteString, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { atLeast, versionString, type ProtocolVersion } from '../../src/kmip/version.ts';
import { Tag, TAG_INFO } from '../../src/ttlv/generated/tags.ts';
import {
  CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, NameType, ObjectType, Operation, QueryFunction,
  ResultStatus, RevocationReasonCode, SecretDataType, State,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { startTestServer, type TestServer } from './harness.ts';

const V1_0: ProtocolVersion = { major: 1, minor: 0 };
const V1_1: ProtocolVersion = { major: 1, minor: 1 };
const V1_2: ProtocolVersion = { major: 1, minor: 2 };

/** 1.x attribute (1.4 s.2.1.1): Attribute{Attribute Name, Attribute Value}. */
const attr = (name: string, value: TtlvItem): Struct =>
  structure(Tag.Attribute, [textString(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue } as TtlvItem]);
const nameAttr = (name: string) =>
  attr('Name', structure(0, [textString(Tag.NameValue, name), enumeration(Tag.NameType, NameType.UninterpretedTextString)]));
const template = (...attrs: Struct[]) => structure(Tag.TemplateAttribute, attrs);
const uidItem = (uid: string) => textString(Tag.UniqueIdentifier, uid);

const SPEC_NAME_TO_TAG = new Map([...TAG_INFO].map(([tag, info]) => [info.specName, tag]));

/** Lists every tag, enumeration-free, and 1.x attribute name in `item` that `v` does not define. */
function outOfVersion(item: TtlvItem, v: ProtocolVersion, path = ''): string[] {
  const info = TAG_INFO.get(item.tag);
  const here = `${path}/${info?.name ?? item.tag.toString(16)}`;
  const out: string[] = [];
  if (!info || !atLeast(v, info.since) || (info.removed && atLeast(v, info.removed))) out.push(`${here} (tag since ${info?.since ?? '?'})`);
  if (item.tag === Tag.AttributeName && item.type === 'TextString' && !/^[xy]-/.test(item.value)) {
    const t = SPEC_NAME_TO_TAG.get(item.value);
    const ti = t === undefined ? undefined : TAG_INFO.get(t);
    if (!ti || !atLeast(v, ti.since)) out.push(`${here}="${item.value}" (attribute since ${ti?.since ?? '?'})`);
  }
  if (item.type === 'Structure') for (const c of item.value) out.push(...outOfVersion(c, v, here));
  return out;
}

function findDeep(item: TtlvItem | undefined, tag: number): TtlvItem | undefined {
  if (!item) return undefined;
  if (item.tag === tag) return item;
  if (item.type === 'Structure') for (const c of item.value) {
    const hit = findDeep(c, tag);
    if (hit) return hit;
  }
  return undefined;
}

class Product {
  private constructor(readonly client: KmipClient, readonly version: ProtocolVersion) {}
  static async connect(server: TestServer, version: ProtocolVersion): Promise<Product> {
    const client = await KmipClient.connect({
      host: server.host, port: server.port, version,
      ca: readFileSync(server.pki.caCert), cert: readFileSync(server.pki.clientCert), key: readFileSync(server.pki.clientKey),
    });
    return new Product(client, version);
  }
  /** One operation, one message, in the product's version; checks the answer's version. */
  async call(operation: number, payload: TtlvItem[]): Promise<ResponseBatchItem> {
    const raw = await this.client.send(buildRequestMessage({ protocolVersion: this.version }, [{ operation, payload: structure(Tag.RequestPayload, payload) }]));
    expect(outOfVersion(raw, this.version), `response to a KMIP ${versionString(this.version)} request holds items of later versions`).toEqual([]);
    const msg = parseResponseMessage(raw);
    expect(msg.header.protocolVersion).toEqual(this.version);
    expect(msg.batchItems).toHaveLength(1);
    return msg.batchItems[0]!;
  }
  async ok(operation: number, payload: TtlvItem[]): Promise<Struct> {
    const item = await this.call(operation, payload);
    if (item.resultStatus !== ResultStatus.Success) {
      expect.fail(`operation 0x${operation.toString(16)} failed: reason ${item.resultReason}: ${item.resultMessage}`);
    }
    expect(item.payload).toBeDefined();
    return item.payload!;
  }
  async uid(operation: number, payload: TtlvItem[]): Promise<string> {
    const p = await this.ok(operation, payload);
    const u = findDeep(p, Tag.UniqueIdentifier);
    expect(u?.type).toBe('TextString');
    return u!.value as string;
  }
  async locate(...attrs: Struct[]): Promise<string[]> {
    const p = await this.ok(Operation.Locate, attrs);
    return p.value.filter((c) => c.tag === Tag.UniqueIdentifier).map((c) => c.value as string);
  }
  close() {
    return this.client.close();
  }
}

describe('real products\' flows over mutual TLS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('MongoDB client-side encryption (KMIP 1.0): Register 96-byte SecretData, Activate, Get', async () => {
    const p = await Product.connect(server, V1_0);
    try {
      const material = randomBytes(96);
      // libmongocrypt: SecretData of type Seed, usage mask 0, Raw key format.
      const uid = await p.uid(Operation.Register, [
        enumeration(Tag.ObjectType, ObjectType.SecretData),
        template(attr('Cryptographic Usage Mask', integer(0, 0))),
        structure(Tag.SecretData, [
          enumeration(Tag.SecretDataType, SecretDataType.Seed),
          structure(Tag.KeyBlock, [enumeration(Tag.KeyFormatType, KeyFormatType.Raw), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, material)])]),
        ]),
      ]);
      expect(await p.uid(Operation.Activate, [uidItem(uid)])).toBe(uid);
      const got = await p.ok(Operation.Get, [uidItem(uid)]);
      expect(findDeep(got, Tag.ObjectType)).toMatchObject({ value: ObjectType.SecretData });
      expect(findDeep(got, Tag.UniqueIdentifier)).toMatchObject({ value: uid });
      expect(findDeep(got, Tag.SecretDataType)).toMatchObject({ value: SecretDataType.Seed });
      const km = findDeep(got, Tag.KeyMaterial);
      expect(km?.type).toBe('ByteString');
      expect((km!.value as Buffer).equals(material)).toBe(true);
    } finally {
      await p.close();
    }
  });

  it('Synology DSM (KMIP 1.2): Register SecretData with Operation Policy Name, rename, Locate, Get, Revoke, Destroy', async () => {
    const p = await Product.connect(server, V1_2);
    try {
      const dv = await p.ok(Operation.DiscoverVersions, [structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, 1), integer(Tag.ProtocolVersionMinor, 2)])]);
      expect(dv.value.filter((c) => c.tag === Tag.ProtocolVersion)).toHaveLength(1);
      const q = await p.ok(Operation.Query, [enumeration(Tag.QueryFunction, QueryFunction.QueryOperations), enumeration(Tag.QueryFunction, QueryFunction.QueryObjects)]);
      const ops = q.value.filter((c) => c.tag === Tag.Operation).map((c) => c.value);
      for (const op of [Operation.Register, Operation.Activate, Operation.ModifyAttribute, Operation.Locate, Operation.Get, Operation.Revoke, Operation.Destroy]) {
        expect(ops).toContain(op);
      }
      const tempName = `synology-tmp-${randomUUID()}`;
      const volume = randomUUID();
      expect(await p.locate(nameAttr(volume))).toEqual([]);
      const material = randomBytes(32);
      const uid = await p.uid(Operation.Register, [
        enumeration(Tag.ObjectType, ObjectType.SecretData),
        template(
          nameAttr(tempName),
          attr('Cryptographic Usage Mask', integer(0, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt)),
          // Deprecated in 1.3, removed in 2.0, and still sent: servers must accept it (CLIENTS.md).
          attr('Operation Policy Name', textString(0, 'default')),
        ),
        structure(Tag.SecretData, [
          enumeration(Tag.SecretDataType, SecretDataType.Password),
          structure(Tag.KeyBlock, [enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, material)])]),
        ]),
      ]);
      await p.ok(Operation.Activate, [uidItem(uid)]);
      // 1.4 s.4.18: the 1.x Modify Attribute response carries the modified Attribute (REQUIRED).
      const mod = await p.ok(Operation.ModifyAttribute, [uidItem(uid), nameAttr(volume)]);
      expect(findDeep(mod, Tag.NameValue)).toMatchObject({ value: volume });
      const ga = await p.ok(Operation.GetAttributes, [uidItem(uid), textString(Tag.AttributeName, 'Name'), textString(Tag.AttributeName, 'State')]);
      const names = ga.value.filter((c) => c.tag === Tag.Attribute).map((a) => findDeep(a, Tag.NameValue)?.value).filter(Boolean);
      expect(names).toEqual([volume]);
      expect(ga.value.some((a) => findDeep(a, Tag.AttributeName)?.value === 'State' && findDeep(a, Tag.AttributeValue)?.value === State.Active)).toBe(true);
      expect(await p.locate(nameAttr(volume))).toEqual([uid]);
      expect(await p.locate(nameAttr(tempName))).toEqual([]);
      const got = await p.ok(Operation.Get, [uidItem(uid)]);
      expect((findDeep(got, Tag.KeyMaterial)!.value as Buffer).equals(material)).toBe(true);
      await p.ok(Operation.Revoke, [uidItem(uid), structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, RevocationReasonCode.CessationOfOperation)])]);
      await p.ok(Operation.Destroy, [uidItem(uid)]);
      const after = await p.call(Operation.Get, [uidItem(uid)]);
      expect(after.resultStatus).toBe(ResultStatus.OperationFailed);
    } finally {
      await p.close();
    }
  });

  it('VMware vCenter (KMIP 1.1): Create AES-256, Activate, GetAttributes State, Locate, Get', async () => {
    const p = await Product.connect(server, V1_1);
    try {
      const name = `vmware-${randomUUID()}`;
      const create = await p.ok(Operation.Create, [
        enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        template(
          attr('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
          attr('Cryptographic Length', integer(0, 256)),
          attr('Cryptographic Usage Mask', integer(0, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt)),
          nameAttr(name),
        ),
      ]);
      expect(findDeep(create, Tag.ObjectType)).toMatchObject({ value: ObjectType.SymmetricKey });
      const uid = findDeep(create, Tag.UniqueIdentifier)!.value as string;
      await p.ok(Operation.Activate, [uidItem(uid)]);
      const ga = await p.ok(Operation.GetAttributes, [uidItem(uid), textString(Tag.AttributeName, 'State')]);
      expect(ga.value.filter((c) => c.tag === Tag.Attribute)).toEqual([attr('State', enumeration(0, State.Active))]);
      expect(await p.locate(nameAttr(name))).toEqual([uid]);
      const got = await p.ok(Operation.Get, [uidItem(uid)]);
      expect(findDeep(got, Tag.KeyFormatType)).toMatchObject({ value: KeyFormatType.Raw });
      expect(findDeep(got, Tag.CryptographicAlgorithm)).toMatchObject({ value: CryptographicAlgorithm.AES });
      expect(findDeep(got, Tag.CryptographicLength)).toMatchObject({ value: 256 });
      expect((findDeep(got, Tag.KeyMaterial)!.value as Buffer).length).toBe(32);
    } finally {
      await p.close();
    }
  });
});
