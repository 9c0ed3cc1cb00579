// The benchmark's KMIP requests, built once per connection and sent identically to both
// servers through the project's client (src/client). Payloads follow the request's
// protocol version: 1.x TemplateAttribute with Attribute{Name, Value} (KMIP 1.4 §2.1.8),
// 2.x Attributes (KMIP 2.0 §2.1.2), because PyKMIP's server only reads the shape of the
// version it was sent.
import { readFileSync } from 'node:fs';
import { KmipClient } from '../../src/client/index.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, ObjectType, Operation, PaddingMethod,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import {
  byteString, enumeration, integer, structure, textString, type Struct,
} from '../../src/kmip/items.ts';
import type { ProtocolVersion } from '../../src/kmip/version.ts';
import type { DevPkiFiles } from '../../src/server/devpki.ts';

export const parseVersion = (s: string): ProtocolVersion => {
  const m = /^(\d+)\.(\d+)$/.exec(s);
  if (!m) throw new Error(`protocol version must look like 1.2, got "${s}"`);
  return { major: Number(m[1]), minor: Number(m[2]) };
};

export interface Endpoint { host: string; port: number }

/**
 * Opens `n` mTLS connections with the client certificate of the run's PKI. TLS 1.2 is
 * pinned for every server: PyKMIP's server speaks nothing newer, and the same record
 * protocol on both sides keeps the comparison about the KMIP servers.
 */
export async function connectMany(ep: Endpoint, pki: DevPkiFiles, n: number, version: ProtocolVersion): Promise<KmipClient[]> {
  const pem = { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) };
  const clients: KmipClient[] = [];
  try {
    // One at a time: PyKMIP's server listens with a backlog of 5.
    for (let i = 0; i < n; i++) {
      clients.push(await KmipClient.connect({
        host: ep.host, port: ep.port, ...pem, version, timeoutMs: 30_000,
        tls: { maxVersion: 'TLSv1.2' },
      }));
    }
  } catch (e) {
    await closeAll(clients);
    throw e;
  }
  return clients;
}

export async function closeAll(clients: readonly KmipClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
}

const attr1x = (name: string, value: TtlvItem): Struct =>
  structure(Tag.Attribute, [textString(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue } as TtlvItem]);

/** Request payload of Create: an AES key of `bits` bits usable for `usage`. */
export function createSymmetricKeyPayload(v: ProtocolVersion, bits: number, usage: number): Struct {
  if (v.major === 1) {
    return structure(Tag.RequestPayload, [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [
        attr1x('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
        attr1x('Cryptographic Length', integer(0, bits)),
        attr1x('Cryptographic Usage Mask', integer(0, usage)),
      ]),
    ]);
  }
  return structure(Tag.RequestPayload, [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, bits),
      integer(Tag.CryptographicUsageMask, usage),
    ]),
  ]);
}

export const AES256_ENCRYPT_DECRYPT = CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt;

export const uidPayload = (uid: string): Struct => structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]);

export function uniqueIdentifierOf(payload: Struct, what: string): string {
  const u = payload.value.find((c) => c.tag === Tag.UniqueIdentifier);
  if (!u || u.type !== 'TextString') throw new Error(`${what}: the response carries no Unique Identifier`);
  return u.value;
}

/** Creates one AES-256 key and returns its id. */
export async function createKey(client: KmipClient, usage = AES256_ENCRYPT_DECRYPT): Promise<string> {
  return uniqueIdentifierOf(await client.request(Operation.Create, createSymmetricKeyPayload(client.version, 256, usage)), 'Create');
}

/** The first item with `tag` anywhere under `item` (depth first). */
export function findItem(item: TtlvItem, tag: number): TtlvItem | undefined {
  if (item.tag === tag) return item;
  if (item.type !== 'Structure') return undefined;
  for (const c of item.value) {
    const f = findItem(c, tag);
    if (f) return f;
  }
  return undefined;
}

/** Key Material bytes of a Get response of a Raw symmetric key (KMIP 1.4 §2.1.4, 2.1 §2.1.5). */
export function keyMaterialOf(getResponse: Struct): Buffer {
  const km = findItem(getResponse, Tag.KeyMaterial);
  if (!km || km.type !== 'ByteString') throw new Error('Get: no Raw Key Material in the response');
  return km.value;
}

export interface SymmetricCipher {
  /** Human-readable name for the report. */
  label: string;
  mode: number;
  padding?: number;
  /** Tag Length in bytes (AEAD modes; KMIP 1.4 §2.1.5 Cryptographic Parameters). */
  tagLength?: number;
}

export const AES_GCM: SymmetricCipher = { label: 'AES-256-GCM (tag 16)', mode: BlockCipherMode.GCM, tagLength: 16 };
export const AES_CBC_PKCS5: SymmetricCipher = { label: 'AES-256-CBC-PKCS5', mode: BlockCipherMode.CBC, padding: PaddingMethod.PKCS5 };

/** Request payload of Encrypt without an IV: the server generates it and returns it (KMIP 1.4 §4.29). */
export function encryptPayload(uid: string, data: Buffer, c: SymmetricCipher): Struct {
  // Field order of KMIP 1.4 §2.1.5 (PyKMIP reads Cryptographic Parameters in that order
  // and refuses the message otherwise): mode, padding, …, algorithm, …, tag length.
  const params: TtlvItem[] = [enumeration(Tag.BlockCipherMode, c.mode)];
  if (c.padding !== undefined) params.push(enumeration(Tag.PaddingMethod, c.padding));
  params.push(enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES));
  if (c.tagLength !== undefined) params.push(integer(Tag.TagLength, c.tagLength));
  return structure(Tag.RequestPayload, [
    textString(Tag.UniqueIdentifier, uid),
    structure(Tag.CryptographicParameters, params),
    byteString(Tag.Data, data),
  ]);
}

export interface EncryptResult { data: Buffer; iv?: Buffer; tag?: Buffer }

export function readEncryptResponse(payload: Struct): EncryptResult {
  const get = (tag: number) => {
    const it = payload.value.find((c) => c.tag === tag);
    return it && it.type === 'ByteString' ? it.value : undefined;
  };
  const data = get(Tag.Data);
  if (!data) throw new Error('Encrypt: the response carries no Data');
  const r: EncryptResult = { data };
  const iv = get(Tag.IVCounterNonce);
  if (iv) r.iv = iv;
  const tag = get(Tag.AuthenticatedEncryptionTag);
  if (tag) r.tag = tag;
  return r;
}
