import type { TtlvItem } from '../ttlv/types.ts';

/**
 * A managed object in the internal (KMIP 2.1) model.
 *
 * `attributes` holds every attribute as the children of a 2.1 Attributes structure
 * (s.5.1): each standard attribute under its own tag (Name, Link, ObjectGroup… repeat for
 * multi-instance attributes), vendor/custom attributes as Attribute{VendorIdentification,
 * AttributeName, AttributeValue} (s.4.60; 1.x `x-`/`y-` custom attributes use vendor
 * identification "x"/"y"). UniqueIdentifier, ObjectType and State are kept in their own
 * fields and are added when attributes are returned.
 *
 * `value` is the object structure itself (SymmetricKey{KeyBlock}, SecretData, Certificate,
 * OpaqueObject, PrivateKey, PublicKey…) in cleartext, in memory only. The store receives it
 * wrapped (see hierarchy/types.ts KeyProtector) and never sees it in the clear.
 * It is undefined for a destroyed object (metadata kept, material erased).
 */
export interface ManagedObject {
  uid: string;
  tenant: string;
  service: string;
  objectType: number;
  state: number;
  attributes: TtlvItem[];
  value?: TtlvItem;
  /** Optimistic-concurrency counter, bumped by every store update. */
  revision: number;
}

/** What the store persists: the object with its value wrapped. */
export interface StoredObject extends Omit<ManagedObject, 'value'> {
  wrappedValue?: Buffer;
}
