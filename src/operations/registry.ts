/**
 * Every KMIP operation the server implements (DESIGN.md §6.1): one handler file each under
 * src/operations/, listed here once. The batch executor dispatches on this map and Query
 * (s.6.1.40) reports its keys. Add an import only once its file exists: this file must
 * type-check at every commit.
 */
import type { OperationHandler } from './types.ts';
import { activate } from './activate.ts';
import { addAttribute } from './add-attribute.ts';
import { adjustAttribute } from './adjust-attribute.ts';
import { archive } from './archive.ts';
import { cancel, poll } from './async.ts';
import { certify } from './certify.ts';
import { check } from './check.ts';
import { create } from './create.ts';
import { createKeyPair } from './create-key-pair.ts';
import { createSplitKey } from './create-split-key.ts';
import { deleteAttribute } from './delete-attribute.ts';
import { destroy } from './destroy.ts';
import { discoverVersions } from './discover-versions.ts';
import { exportObject } from './export.ts';
import { get } from './get.ts';
import { getAttributeList } from './get-attribute-list.ts';
import { getAttributes } from './get-attributes.ts';
import { getUsageAllocation } from './get-usage-allocation.ts';
import { importObject } from './import.ts';
import { interop } from './interop.ts';
import { joinSplitKey } from './join-split-key.ts';
import { locate } from './locate.ts';
import { log } from './log.ts';
import { modifyAttribute } from './modify-attribute.ts';
import { notify } from './notify.ts';
import { obtainLease } from './obtain-lease.ts';
import { put } from './put.ts';
import { query } from './query.ts';
import { recover } from './recover.ts';
import { register } from './register.ts';
import { reCertify } from './re-certify.ts';
import { reKey } from './re-key.ts';
import { reKeyKeyPair } from './re-key-key-pair.ts';
import { revoke } from './revoke.ts';
import { setAttribute } from './set-attribute.ts';
import { setEndpointRole } from './set-endpoint-role.ts';
import { validate } from './validate.ts';

import { decrypt } from './decrypt.ts';
import { encrypt } from './encrypt.ts';
import { hash } from './hash.ts';
import { mac } from './mac.ts';
import { macVerify } from './mac-verify.ts';
import { rngRetrieve } from './rng-retrieve.ts';
import { rngSeed } from './rng-seed.ts';
import { sign } from './sign.ts';
import { signatureVerify } from './signature-verify.ts';
// cryptographic services part 2 (key wrapping, Derive Key)
import { deriveKey } from './derive-key.ts';
const HANDLERS: readonly OperationHandler[] = [
  // cryptographic services (issue 4, part 1)
  decrypt, encrypt, hash, mac, macVerify, rngRetrieve, rngSeed, sign, signatureVerify,
  // another engineer's: object creation and retrieval
  create, createKeyPair, get, register, reKey, reKeyKeyPair,
  // cryptographic services part 2
  deriveKey,
  // attributes, lifecycle, Locate, Query (this module's owner)
  activate, addAttribute, adjustAttribute, cancel, check, deleteAttribute, destroy, discoverVersions, exportObject,
  getAttributeList, getAttributes, getUsageAllocation, importObject, interop, locate, log, modifyAttribute, obtainLease, poll, query, revoke, setAttribute,
  setEndpointRole,
  // issue 13 §1: the remaining operations
  archive, recover, createSplitKey, joinSplitKey, certify, reCertify, validate,
  // server-to-client operations: answered as a server that does not send them (notify.ts, put.ts)
  notify, put,
];

function byOperation(handlers: readonly OperationHandler[]): ReadonlyMap<number, OperationHandler> {
  const map = new Map<number, OperationHandler>();
  for (const h of handlers) {
    if (map.has(h.operation)) throw new Error(`operation registry: ${h.name} registered twice`);
    map.set(h.operation, h);
  }
  return map;
}

export const OPERATIONS: ReadonlyMap<number, OperationHandler> = byOperation(HANDLERS);
