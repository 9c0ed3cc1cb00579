// The customer's side of a KMIP root key, for the kmip L1 provider's tests: creates an
// AES-256 key on the other KMIP server and acts on it behind the provider's back (Revoke,
// Destroy), as the customer would from their HSM or KMS console. Plain KMIP 1.4 requests
// through the project's client (1.4 s.4.1 Create, s.4.19 Activate, s.4.20 Revoke, s.4.21 Destroy).
import { readFileSync } from 'node:fs';
import { KmipClient } from '../../src/client/index.ts';
import { enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { CryptographicAlgorithm, CryptographicUsageMask, NameType, ObjectType, Operation, RevocationReasonCode } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';

export interface KmipConsoleTarget {
  host: string;
  port: number;
  caFile: string;
  certFile: string;
  clientKeyFile: string;
  servername?: string;
}

const attr = (name: string, value: Struct['value'][number]) => structure(Tag.Attribute, [textString(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue }]);

export class KmipConsole {
  private constructor(private readonly client: KmipClient) {}

  static async connect(t: KmipConsoleTarget): Promise<KmipConsole> {
    const client = await KmipClient.connect({
      host: t.host,
      port: t.port,
      ca: readFileSync(t.caFile),
      cert: readFileSync(t.certFile),
      key: readFileSync(t.clientKeyFile),
      version: { major: 1, minor: 4 },
      timeoutMs: 30_000,
      ...(t.servername !== undefined ? { servername: t.servername } : {}),
    });
    return new KmipConsole(client);
  }

  /** An Active AES-256 key usable for Encrypt and Decrypt; returns its Unique Identifier. */
  async createRootKey(opts: { name?: string; activate?: boolean; usage?: number } = {}): Promise<string> {
    const attrs = [
      attr('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
      attr('Cryptographic Length', integer(0, 256)),
      attr('Cryptographic Usage Mask', integer(0, opts.usage ?? CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt)),
    ];
    if (opts.name !== undefined) {
      attrs.push(attr('Name', structure(0, [textString(Tag.NameValue, opts.name), enumeration(Tag.NameType, NameType.UninterpretedTextString)])));
    }
    const out = await this.client.request(Operation.Create, [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, attrs),
    ]);
    const uid = String(out.value.find((i) => i.tag === Tag.UniqueIdentifier)!.value);
    if (opts.activate ?? true) await this.activate(uid);
    return uid;
  }

  async activate(uid: string): Promise<void> {
    await this.client.request(Operation.Activate, [textString(Tag.UniqueIdentifier, uid)]);
  }

  /** Revoke (→ Deactivated, or Compromised with reason KeyCompromise). */
  async revoke(uid: string, code: number = RevocationReasonCode.CessationOfOperation): Promise<void> {
    await this.client.request(Operation.Revoke, [
      textString(Tag.UniqueIdentifier, uid),
      structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, code)]),
    ]);
  }

  async destroy(uid: string): Promise<void> {
    await this.client.request(Operation.Destroy, [textString(Tag.UniqueIdentifier, uid)]);
  }

  /** Revoke then Destroy: what a customer does to cut OpenKCM off for good. */
  async revokeAndDestroy(uid: string): Promise<void> {
    await this.revoke(uid);
    await this.destroy(uid);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
