// Compares a server's Response Message with the one an OASIS test vector expects.
//
// The rules are the profiles' "permitted test case variations" (KMIP Profiles 2.1 §5.x;
// spec/kmip-vectors/README.md "Comparing responses"), made precise here:
//
//  1. Result Status and Result Reason are compared exactly (a step that expects a failure
//     must fail with that reason); a status mismatch is reported before anything else in
//     the batch item, with the server's reason and message to make it readable.
//  2. Never compared: Time Stamp and Server Correlation Value (response header), Result
//     Message (free text), Located Items (a server may omit the count, s.6.1.28).
//     Client Correlation Value in the response header is optional for the server
//     (s.9.x Response Header): tolerated when the vector has none, compared when it has one.
//  2b. Inside a 1.x Attribute structure, Attribute Index 0 from the server matches a vector
//     that omits the index: "When an Attribute structure is used to specify or return a
//     particular instance of an Attribute and the Attribute Index is not specified it SHALL
//     be assumed to be 0" (1.4 s.2.1.1). OpenKCM writes index 0 on Name for the 1.x clients
//     that read it (PyKMIP; issue 13 §5); any other index is still compared.
//  3. Attribute collections — the Attributes structures (and their Common / Private Key /
//     Public Key variants, and 1.x Template-Attribute), and the payloads of Get Attributes,
//     Get Attribute List and Query — are compared as sets: every expected child must be
//     matched by a distinct actual child of the same tag, in any order; extra actual children
//     are allowed (extra attributes, longer Query answers).
//  4. Server randomness. A value is not compared (its tag, type and, for byte strings, its
//     length still are) when it cannot be reproduced by a conforming server:
//       - always server-chosen: Correlation Value, Asynchronous Correlation Value, Short Unique
//         Identifier (a digest of the server-chosen UID, s.4.57);
//       - key material, key digests and certificates of objects the server generated in this
//         scenario (Create, Create Key Pair, Re-key…), or wrapped under such a key:
//         Key Material, Key Value (wrapped form), the transparent key components, Digest
//         Value, Certificate Value;
//       - cryptographic outputs that depend on such a key, on a nonce the server chose, or on
//         a randomised algorithm (RSA-OAEP, PSS, ECDSA), and RNG output: Data, Signature Data,
//         MAC Data, IV/Counter/Nonce, Authenticated Encryption Tag;
//       - the Data of a Decrypt answer whose key the server generated in this scenario, when
//         the ciphertext is not one this server returned: CS-BC-M-2 and CS-BC-M-3 decrypt the
//         reference server's literal ciphertext under a key our server created, so the
//         plaintext is as random as that key (s.6.1.11 only fixes what Decrypt returns for
//         the key it is given). Decrypting our own Encrypt output is still compared exactly.
//     A vector value written as a placeholder is bound instead (placeholders.ts).
//     Descriptions of the server itself are not the reference server's either: the Random
//     Number Generator attribute (its RNG; 2.x tag or 1.x Attribute named so), and in a
//     Query answer the Vendor Identification and Server Information. Their presence is
//     compared, their content is not.
//  5. `$NOW±n` in an expected response accepts any server time in the run's window.
//  5b. The response header's Protocol Version must be the request's (the server answers in
//     the version it was asked in). OMOS-O-1-14 step 1 expects 1.3 for a 1.4 request, a slip
//     in the vector, so the runner checks the header against the request, not the vector.
//  6. Everything else — tags, types, order, values, presence — is compared, and the first
//     difference is reported as a path such as
//     `BatchItem[0]/ResponsePayload/Attributes/State: expected Active, got PreActive`.
import type { TtlvItem } from '../src/ttlv/types.ts';
import { tagLabel } from '../src/ttlv/decode.ts';
import { Tag } from '../src/ttlv/generated/tags.ts';
import {
  ENUMERATIONS,
  ENUMERATION_FOR_TAG,
  Operation,
  PaddingMethod,
  CryptographicAlgorithm,
} from '../src/ttlv/generated/enumerations.ts';
import { Bindings, parsePlaceholder } from './placeholders.ts';

export interface Mismatch {
  path: string;
  message: string;
}

export const formatMismatch = (m: Mismatch) => (m.path ? `${m.path}: ${m.message}` : m.message);

/** Rule 2. */
const IGNORED_TAGS = new Set<number>([Tag.TimeStamp, Tag.ServerCorrelationValue, Tag.ResultMessage, Tag.LocatedItems]);
/** Rule 2: optional for the server; only compared when the vector has it. */
const TOLERATED_WHEN_UNEXPECTED = new Set<number>([Tag.ClientCorrelationValue]);

/** Rule 3: structures compared as sets with extras allowed. */
const ATTRIBUTE_SET_TAGS = new Set<number>([
  Tag.Attributes,
  Tag.CommonAttributes,
  Tag.PrivateKeyAttributes,
  Tag.PublicKeyAttributes,
  Tag.TemplateAttribute,
  Tag.CommonTemplateAttribute,
  Tag.PrivateKeyTemplateAttribute,
  Tag.PublicKeyTemplateAttribute,
]);
const SET_PAYLOAD_OPERATIONS = new Set<number>([Operation.GetAttributes, Operation.GetAttributeList, Operation.Query]);

/**
 * Rule 4b: the Random Number Generator attribute (s.4.48; 1.4 s.3.44) describes the RNG of
 * the server that generated the key (algorithm, DRBG, FIPS-186 variation…). The vectors
 * show the reference server's; ours reports its own, so only its presence is compared.
 */
const SERVER_DESCRIPTION_TAGS = new Set<number>([Tag.RandomNumberGenerator]);
const SERVER_DESCRIPTION_ATTRIBUTE_NAMES = new Set<string>(['Random Number Generator']);
/** Rule 4b, Query: the vendor and server description in a Query answer (s.6.1.40). */
const QUERY_SERVER_DESCRIPTION_TAGS = new Set<number>([Tag.VendorIdentification, Tag.ServerInformation]);

/** The Attribute Name of a 1.x Attribute structure (1.4 s.2.1.1), if `item` is one. */
function attributeNameOf(item: TtlvItem): string | undefined {
  if (item.tag !== Tag.Attribute || item.type !== 'Structure') return undefined;
  const n = item.value.find((c) => c.tag === Tag.AttributeName);
  return n?.type === 'TextString' ? n.value : undefined;
}

/** Rule 4, first group. */
const ALWAYS_SERVER_CHOSEN = new Set<number>([Tag.CorrelationValue, Tag.AsynchronousCorrelationValue, Tag.ShortUniqueIdentifier]);
/** Rule 4, second group. */
const KEY_MATERIAL_TAGS = new Set<number>([
  Tag.KeyMaterial, Tag.KeyValue, Tag.DigestValue, Tag.CertificateValue,
  Tag.Modulus, Tag.PrivateExponent, Tag.PublicExponent, Tag.P, Tag.Q, Tag.G, Tag.J, Tag.X, Tag.Y, Tag.D,
  Tag.PrimeExponentP, Tag.PrimeExponentQ, Tag.CRTCoefficient, Tag.QString,
]);
/** Rule 4, third group. */
const CRYPTO_OUTPUT_TAGS = new Set<number>([
  Tag.Data, Tag.SignatureData, Tag.MACData, Tag.IVCounterNonce, Tag.AuthenticatedEncryptionTag,
]);
/** Byte strings whose length is not fixed by the algorithm (a DER ECDSA signature varies). */
const LENGTH_MAY_VARY = new Set<number>([Tag.SignatureData, Tag.CertificateValue]);

/** Operations whose new objects carry key material the server generated. */
const GENERATING_OPERATIONS = new Set<number>([
  Operation.Create, Operation.CreateKeyPair, Operation.ReKey, Operation.ReKeyKeyPair,
  Operation.DeriveKey, Operation.Certify, Operation.ReCertify, Operation.CreateSplitKey, Operation.JoinSplitKey,
]);
/** Operations whose outputs are randomised when the key, the nonce or the algorithm is. */
const OUTPUT_OPERATIONS = new Set<number>([Operation.Encrypt, Operation.Sign, Operation.MAC, Operation.RNGRetrieve]);

/** What rule 4 allows for one batch item. */
export interface RandomnessFlags {
  keyMaterial: boolean;
  cryptoOutput: boolean;
  /** Rule 4, last case: only the Data of a Decrypt answer. */
  decryptedData: boolean;
}
const NO_RANDOMNESS: RandomnessFlags = { keyMaterial: false, cryptoOutput: false, decryptedData: false };

/**
 * Follows one scenario to know which objects hold server-generated keys and which
 * registered keys use randomised algorithms (rule 4). Fed with every request and actual
 * response, in order.
 */
export class RandomnessTracker {
  readonly serverGenerated = new Set<string>();
  readonly randomisedAlgorithm = new Set<string>();
  /** Ciphertexts this server returned from Encrypt in this scenario (hex), see rule 4. */
  private readonly ownCiphertexts = new Set<string>();
  private lastUid: string | undefined;

  /** Flags for each batch item of a (substituted) request, given the actual response. */
  flagsFor(request: TtlvItem, actual: TtlvItem | undefined): RandomnessFlags[] {
    const reqItems = batchItems(request);
    const respItems = actual ? batchItems(actual) : [];
    let placeholderUid = this.lastUid;
    // Objects generated by earlier items of this same batch (Create then Get through the ID
    // Placeholder, s.6.1 intro) count as server-generated for the later items.
    const generated = new Set(this.serverGenerated);
    return reqItems.map((bi, i) => {
      const op = enumChild(bi, Tag.Operation);
      const payload = structChild(bi, Tag.RequestPayload);
      const subject = (payload && textChild(payload, Tag.UniqueIdentifier)) ?? placeholderUid;
      const resp = respItems[i];
      const respPayload = resp ? structChild(resp, Tag.ResponsePayload) : undefined;
      const produced = respPayload ? producedUids(respPayload) : [];
      if (produced.length > 0) placeholderUid = produced[0];
      if (op !== undefined && GENERATING_OPERATIONS.has(op)) for (const u of produced) generated.add(u);
      if (op === undefined) return NO_RANDOMNESS;
      const subjectGenerated = subject !== undefined && generated.has(subject);
      let keyMaterial = subjectGenerated;
      const wrapKey = payload ? wrappingKeyUid(payload) : undefined;
      if (wrapKey !== undefined && generated.has(wrapKey)) keyMaterial = true;
      let cryptoOutput = false;
      let decryptedData = false;
      if (op === Operation.Decrypt && subjectGenerated) {
        // Rule 4, last case: the key is ours, the ciphertext may be the reference server's.
        const sent = payload ? byteChild(payload, Tag.Data) : undefined;
        decryptedData = sent === undefined || !this.ownCiphertexts.has(sent.toString('hex'));
      }
      if (OUTPUT_OPERATIONS.has(op)) {
        const requestIv = payload ? findDeep(payload, Tag.IVCounterNonce) : undefined;
        const serverIv = respPayload ? findDeep(respPayload, Tag.IVCounterNonce) : undefined;
        cryptoOutput =
          op === Operation.RNGRetrieve ||
          keyMaterial ||
          (subject !== undefined && this.randomisedAlgorithm.has(subject)) ||
          (payload !== undefined && randomisedParameters(payload)) ||
          (serverIv !== undefined && requestIv === undefined);
      }
      return { keyMaterial, cryptoOutput, decryptedData };
    });
  }

  /** Records what a completed exchange created. */
  note(request: TtlvItem, actual: TtlvItem): void {
    const reqItems = batchItems(request);
    const respItems = batchItems(actual);
    reqItems.forEach((bi, i) => {
      const op = enumChild(bi, Tag.Operation);
      const resp = respItems[i];
      const rp = resp ? structChild(resp, Tag.ResponsePayload) : undefined;
      if (!rp) return;
      const uids = producedUids(rp);
      if (uids.length > 0) this.lastUid = uids[0];
      if (op !== undefined && GENERATING_OPERATIONS.has(op)) for (const u of uids) this.serverGenerated.add(u);
      if (op === Operation.Encrypt) {
        const data = byteChild(rp, Tag.Data);
        if (data !== undefined) this.ownCiphertexts.add(data.toString('hex'));
      }
      if (op === Operation.Register || op === Operation.Import) {
        const payload = structChild(bi, Tag.RequestPayload);
        if (payload && randomisedParameters(payload)) for (const u of uids) this.randomisedAlgorithm.add(u);
      }
    });
  }
}

function producedUids(rp: TtlvItem): string[] {
  return [Tag.UniqueIdentifier, Tag.PrivateKeyUniqueIdentifier, Tag.PublicKeyUniqueIdentifier]
    .map((t) => textChild(rp, t))
    .filter((u): u is string => u !== undefined);
}

/** RSA-OAEP, PSS, ECDSA and EC keys produce different outputs for the same input. */
function randomisedParameters(s: TtlvItem): boolean {
  let found = false;
  walk(s, (it) => {
    if (it.type !== 'Enumeration') return;
    if (it.tag === Tag.PaddingMethod && (it.value === PaddingMethod.OAEP || it.value === PaddingMethod.PSS)) found = true;
    if (it.tag === Tag.DigitalSignatureAlgorithm) {
      const name = enumName(ENUMERATIONS.DigitalSignatureAlgorithm!.values, it.value) ?? '';
      if (/ECDSA|PSS/i.test(name)) found = true;
    }
    if (it.tag === Tag.CryptographicAlgorithm && (it.value === CryptographicAlgorithm.ECDSA || it.value === CryptographicAlgorithm.EC)) found = true;
  });
  return found;
}

function wrappingKeyUid(payload: TtlvItem): string | undefined {
  const spec = findDeep(payload, Tag.KeyWrappingSpecification);
  if (!spec) return undefined;
  let uid: string | undefined;
  walk(spec, (it) => {
    if (uid === undefined && it.tag === Tag.UniqueIdentifier && it.type === 'TextString') uid = it.value;
  });
  return uid;
}

function walk(item: TtlvItem, f: (it: TtlvItem) => void): void {
  f(item);
  if (item.type === 'Structure') for (const c of item.value) walk(c, f);
}
function findDeep(item: TtlvItem, tag: number): TtlvItem | undefined {
  let hit: TtlvItem | undefined;
  walk(item, (it) => {
    if (hit === undefined && it !== item && it.tag === tag) hit = it;
  });
  return hit;
}
function batchItems(msg: TtlvItem): TtlvItem[] {
  return msg.type === 'Structure' ? msg.value.filter((c) => c.tag === Tag.BatchItem) : [];
}
function structChild(s: TtlvItem, tag: number): TtlvItem | undefined {
  if (s.type !== 'Structure') return undefined;
  return s.value.find((c) => c.tag === tag && c.type === 'Structure');
}
function enumChild(s: TtlvItem, tag: number): number | undefined {
  if (s.type !== 'Structure') return undefined;
  const c = s.value.find((x) => x.tag === tag);
  return c && c.type === 'Enumeration' ? c.value : undefined;
}
function byteChild(s: TtlvItem, tag: number): Buffer | undefined {
  if (s.type !== 'Structure') return undefined;
  const c = s.value.find((x) => x.tag === tag);
  return c && c.type === 'ByteString' ? c.value : undefined;
}
function textChild(s: TtlvItem, tag: number): string | undefined {
  if (s.type !== 'Structure') return undefined;
  const c = s.value.find((x) => x.tag === tag);
  return c && c.type === 'TextString' ? c.value : undefined;
}
function enumName(values: Readonly<Record<string, number>>, v: number): string | undefined {
  for (const [k, n] of Object.entries(values)) if (n === v) return k;
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Rendering values for messages.

export function renderValue(item: TtlvItem): string {
  switch (item.type) {
    case 'Enumeration': {
      // A 2.x Attribute Reference enumeration holds the tag of the attribute (s.5.5).
      if (item.tag === Tag.AttributeReference) return tagLabel(item.value);
      const e = ENUMERATION_FOR_TAG.get(item.tag);
      const name = e ? enumName(ENUMERATIONS[e]!.values, item.value) : undefined;
      return name ?? '0x' + item.value.toString(16).padStart(8, '0');
    }
    case 'Integer': {
      const e = ENUMERATION_FOR_TAG.get(item.tag);
      const info = e ? ENUMERATIONS[e] : undefined;
      if (info?.kind === 'mask') {
        const names = Object.entries(info.values).filter(([, bit]) => bit !== 0 && (item.value & bit) === bit).map(([n]) => n);
        return names.length ? `${names.join(' ')} (${item.value})` : String(item.value);
      }
      return String(item.value);
    }
    case 'ByteString': {
      const hex = item.value.toString('hex');
      return hex.length > 48 ? `${hex.slice(0, 48)}… (${item.value.length} bytes)` : hex || '(empty)';
    }
    case 'TextString':
      return JSON.stringify(item.value);
    case 'DateTime':
      return new Date(Number(item.value) * 1000).toISOString().replace('.000Z', 'Z');
    case 'DateTimeExtended':
      return new Date(Number(item.value / 1000n)).toISOString();
    case 'Structure':
      return `a structure of ${item.value.length} item(s)`;
    default:
      return String(item.value);
  }
}

/** An expected item in one line, for "missing …" reports (placeholders shown resolved when bound). */
function describeDeep(item: TtlvItem, ctx: Ctx): string {
  if (item.placeholder !== undefined) {
    const p = item.placeholder.startsWith('$NOW') ? undefined : ctx.bindings.get(item.placeholder.slice(1));
    return `${tagLabel(item.tag)}=${p ? renderValue(p) : item.placeholder}`;
  }
  if (item.type !== 'Structure') return describe(item);
  const inner = item.value.map((c) => describeDeep(c, ctx)).join(', ');
  return `${tagLabel(item.tag)}{${inner.length > 120 ? inner.slice(0, 120) + '…' : inner}}`;
}

function describe(item: TtlvItem): string {
  return item.type === 'Structure' ? tagLabel(item.tag) : `${tagLabel(item.tag)}=${renderValue(item)}`;
}

// ---------------------------------------------------------------------------------------
// The comparison.

interface Ctx {
  bindings: Bindings;
  flags: RandomnessFlags;
}

/**
 * Compares one actual Response Message with the expected one; returns the first mismatch,
 * or undefined. Binds the expected response's unbound variables to the server's values as
 * a side effect (only along the successful match).
 * `flags[i]` says which randomness rule applies to batch item i (RandomnessTracker.flagsFor).
 */
export function compareResponse(
  expected: TtlvItem,
  actual: TtlvItem,
  bindings: Bindings,
  flags: RandomnessFlags[] = [],
): Mismatch | undefined {
  if (expected.tag !== actual.tag || actual.type !== 'Structure' || expected.type !== 'Structure') {
    return { path: '', message: `expected a ${describe(expected)}, got ${describe(actual)}` };
  }
  const expHeader = expected.value.find((c) => c.tag === Tag.ResponseHeader);
  const actHeader = actual.value.find((c) => c.tag === Tag.ResponseHeader);
  if (expHeader && !actHeader) return { path: 'ResponseHeader', message: 'missing' };
  if (expHeader && actHeader) {
    const m = compareItem(expHeader, actHeader, 'ResponseHeader', { bindings, flags: NO_RANDOMNESS });
    if (m) return m;
  }
  const expItems = expected.value.filter((c) => c.tag === Tag.BatchItem);
  const actItems = actual.value.filter((c) => c.tag === Tag.BatchItem);
  for (let i = 0; i < expItems.length; i++) {
    const path = `BatchItem[${i}]`;
    const a = actItems[i];
    if (!a) return { path, message: `missing (the response has ${actItems.length} batch item(s), ${expItems.length} expected)` };
    const m = compareBatchItem(expItems[i]!, a, path, { bindings, flags: flags[i] ?? NO_RANDOMNESS });
    if (m) return m;
  }
  if (actItems.length > expItems.length) {
    return { path: `BatchItem[${expItems.length}]`, message: `unexpected extra batch item (${actItems.length} returned, ${expItems.length} expected)` };
  }
  const others = (s: TtlvItem) => (s.type === 'Structure' ? s.value.filter((c) => c.tag !== Tag.ResponseHeader && c.tag !== Tag.BatchItem) : []);
  return compareChildren(others(expected), others(actual), '', { bindings, flags: NO_RANDOMNESS }, false);
}

function compareBatchItem(exp: TtlvItem, act: TtlvItem, path: string, ctx: Ctx): Mismatch | undefined {
  if (exp.type !== 'Structure' || act.type !== 'Structure') return compareItem(exp, act, path, ctx);
  // Rule 1: the outcome first, so a failing step reads as such and not as a missing payload.
  const eStatus = exp.value.find((c) => c.tag === Tag.ResultStatus);
  const aStatus = act.value.find((c) => c.tag === Tag.ResultStatus);
  const aReason = act.value.find((c) => c.tag === Tag.ResultReason);
  const aMessage = act.value.find((c) => c.tag === Tag.ResultMessage);
  const outcome = () => {
    const bits = [aReason && renderValue(aReason), aMessage && aMessage.type === 'TextString' && aMessage.value].filter(Boolean);
    return bits.length ? ` (${bits.join(': ')})` : '';
  };
  if (eStatus && !aStatus) return { path: `${path}/ResultStatus`, message: 'missing' };
  if (eStatus && aStatus && !sameScalar(eStatus, aStatus)) {
    return { path: `${path}/ResultStatus`, message: `expected ${renderValue(eStatus)}, got ${renderValue(aStatus)}${outcome()}` };
  }
  const eReason = exp.value.find((c) => c.tag === Tag.ResultReason);
  if (eReason && !aReason) return { path: `${path}/ResultReason`, message: `expected ${renderValue(eReason)}, got none` };
  if (eReason && aReason && !sameScalar(eReason, aReason)) {
    return { path: `${path}/ResultReason`, message: `expected ${renderValue(eReason)}, got ${renderValue(aReason)}${outcome()}` };
  }
  const op = exp.value.find((c) => c.tag === Tag.Operation);
  const setPayload = op?.type === 'Enumeration' && SET_PAYLOAD_OPERATIONS.has(op.value);
  const exps = exp.value.filter((c) => c.tag !== Tag.ResponsePayload);
  const acts = act.value.filter((c) => c.tag !== Tag.ResponsePayload);
  const m = compareChildren(exps, acts, path, ctx, false);
  if (m) return m;
  const ep = exp.value.find((c) => c.tag === Tag.ResponsePayload);
  const ap = act.value.find((c) => c.tag === Tag.ResponsePayload);
  if (ep && !ap) return { path: `${path}/ResponsePayload`, message: 'missing' };
  if (!ep && ap && ap.type === 'Structure' && ap.value.length > 0) {
    return { path: `${path}/ResponsePayload`, message: 'unexpected (the vector has no payload here)' };
  }
  if (ep && ap) {
    if (ep.type !== 'Structure' || ap.type !== 'Structure') return compareItem(ep, ap, `${path}/ResponsePayload`, ctx);
    if (op?.type === 'Enumeration' && op.value === Operation.Query) {
      // Rule 4b: the server describes itself; the vector shows the reference server.
      const mask = (items: TtlvItem[]) => items.map((c) => (QUERY_SERVER_DESCRIPTION_TAGS.has(c.tag) ? maskValue(c) : c));
      return compareChildren(mask(ep.value), mask(ap.value), `${path}/ResponsePayload`, ctx, setPayload);
    }
    return compareChildren(ep.value, ap.value, `${path}/ResponsePayload`, ctx, setPayload);
  }
  return undefined;
}

/** Same tag, an empty value of no consequence: only presence is compared. */
function maskValue(item: TtlvItem): TtlvItem {
  return { tag: item.tag, type: 'Structure', value: [] };
}

function sameScalar(a: TtlvItem, b: TtlvItem): boolean {
  return a.type === b.type && valuesEqual(a, b);
}

function valuesEqual(a: TtlvItem, b: TtlvItem): boolean {
  if (a.type === 'Structure' || b.type === 'Structure') {
    if (a.type !== 'Structure' || b.type !== 'Structure' || a.value.length !== b.value.length) return false;
    return a.value.every((c, i) => c.tag === b.value[i]!.tag && valuesEqual(c, b.value[i]!));
  }
  if (a.type === 'ByteString' && b.type === 'ByteString') return a.value.equals(b.value);
  return a.value === b.value;
}

function childPath(parent: string, item: TtlvItem, index: number, siblings: number): string {
  const name = tagLabel(item.tag) + (siblings > 1 ? `[${index}]` : '');
  return parent ? `${parent}/${name}` : name;
}

/** Compares one expected item with one actual item of the same position. */
export function compareItem(exp: TtlvItem, act: TtlvItem, path: string, ctx: Ctx): Mismatch | undefined {
  if (exp.tag !== act.tag) return { path, message: `expected ${tagLabel(exp.tag)}, got ${describe(act)}` };
  if (exp.placeholder !== undefined) return comparePlaceholder(exp, act, path, ctx);
  if (exp.type !== act.type) return { path, message: `expected a ${exp.type}, got a ${act.type} (${renderValue(act)})` };
  if (exp.type === 'Structure' && act.type === 'Structure') {
    if (SERVER_DESCRIPTION_TAGS.has(exp.tag)) return undefined;
    const described = attributeNameOf(exp);
    if (described !== undefined && SERVER_DESCRIPTION_ATTRIBUTE_NAMES.has(described)) {
      // 1.x form of rule 4b: the Attribute must name the same attribute; its value is the server's.
      return described === attributeNameOf(act) ? undefined : { path, message: `expected ${describe(exp)} "${described}", got ${JSON.stringify(attributeNameOf(act) ?? null)}` };
    }
    let actChildren = act.value;
    if (exp.tag === Tag.Attribute && !exp.value.some((c) => c.tag === Tag.AttributeIndex)) {
      // Rule 2b.
      actChildren = actChildren.filter((c) => !(c.tag === Tag.AttributeIndex && c.type === 'Integer' && c.value === 0));
    }
    return compareChildren(exp.value, actChildren, path, ctx, ATTRIBUTE_SET_TAGS.has(exp.tag));
  }
  if (valuesEqual(exp, act)) return undefined;
  if (isServerRandom(exp.tag, ctx.flags)) {
    // Rule 4: the value differs only by what the server chose; the shape must still agree.
    if (exp.type === 'ByteString' && act.type === 'ByteString' && !LENGTH_MAY_VARY.has(exp.tag) && exp.value.length !== act.value.length) {
      return { path, message: `expected ${exp.value.length} bytes, got ${act.value.length} (the value itself depends on server randomness and is not compared)` };
    }
    return undefined;
  }
  return { path, message: `expected ${renderValue(exp)}, got ${renderValue(act)}` };
}

function isServerRandom(tag: number, flags: RandomnessFlags): boolean {
  if (ALWAYS_SERVER_CHOSEN.has(tag)) return true;
  if (flags.keyMaterial && KEY_MATERIAL_TAGS.has(tag)) return true;
  if (flags.cryptoOutput && CRYPTO_OUTPUT_TAGS.has(tag)) return true;
  if (flags.decryptedData && tag === Tag.Data) return true;
  return false;
}

function comparePlaceholder(exp: TtlvItem, act: TtlvItem, path: string, ctx: Ctx): Mismatch | undefined {
  let p;
  try {
    p = parsePlaceholder(exp.placeholder!);
  } catch (e) {
    return { path, message: (e as Error).message };
  }
  if (p.kind === 'time') {
    let secs: bigint;
    if (act.type === 'DateTime') secs = act.value;
    else if (act.type === 'DateTimeExtended') secs = act.value / 1_000_000n;
    else return { path, message: `expected a date/time (${p.raw}), got a ${act.type} (${renderValue(act)})` };
    const [lo, hi] = ctx.bindings.timeWindow(p.offsetSeconds);
    if (secs < lo || secs > hi) {
      const iso = (s: bigint) => new Date(Number(s) * 1000).toISOString().replace('.000Z', 'Z');
      return { path, message: `expected ${p.raw} (between ${iso(lo)} and ${iso(hi)}), got ${renderValue(act)}` };
    }
    return undefined;
  }
  const bound = ctx.bindings.get(p.name);
  if (bound === undefined) {
    if (act.type !== exp.type && !(isUidTag(exp.tag) && isUidType(act.type))) {
      return { path, message: `expected a ${exp.type} to bind ${p.raw}, got a ${act.type} (${renderValue(act)})` };
    }
    ctx.bindings.bind(p.name, act);
    return undefined;
  }
  if (bound.type === act.type && valuesEqual(bound, act)) return undefined;
  return { path, message: `expected ${p.raw} = ${renderValue(bound)}, got ${renderValue(act)}` };
}

const isUidTag = (tag: number) =>
  tag === Tag.UniqueIdentifier || tag === Tag.LinkedObjectIdentifier || tag === Tag.PrivateKeyUniqueIdentifier || tag === Tag.PublicKeyUniqueIdentifier;
const isUidType = (t: TtlvItem['type']) => t === 'TextString' || t === 'Enumeration' || t === 'Integer';

/**
 * Children of one structure. `asSet` applies rule 3 (any order, extras allowed); otherwise
 * the order and count must agree, apart from the ignored and tolerated tags of rule 2.
 */
function compareChildren(expAll: TtlvItem[], actAll: TtlvItem[], path: string, ctx: Ctx, asSet: boolean): Mismatch | undefined {
  const exp = expAll.filter((c) => !IGNORED_TAGS.has(c.tag));
  const expTags = new Set(exp.map((c) => c.tag));
  const act = actAll.filter((c) => !IGNORED_TAGS.has(c.tag) && !(TOLERATED_WHEN_UNEXPECTED.has(c.tag) && !expTags.has(c.tag)));
  const count = new Map<number, number>();
  for (const c of exp) count.set(c.tag, (count.get(c.tag) ?? 0) + 1);
  const seen = new Map<number, number>();
  const pathOf = (c: TtlvItem) => {
    const i = seen.get(c.tag) ?? 0;
    seen.set(c.tag, i + 1);
    return childPath(path, c, i, count.get(c.tag) ?? 1);
  };

  if (asSet) {
    const used = new Set<number>();
    for (const e of exp) {
      const p = pathOf(e);
      let firstMismatch: Mismatch | undefined;
      let matched = false;
      for (let j = 0; j < act.length; j++) {
        if (used.has(j) || act[j]!.tag !== e.tag) continue;
        const snap = ctx.bindings.snapshot();
        const m = compareItem(e, act[j]!, p, ctx);
        if (!m) {
          used.add(j);
          matched = true;
          break;
        }
        ctx.bindings.restore(snap);
        firstMismatch ??= m;
      }
      if (!matched) {
        const candidates = act.filter((a) => a.tag === e.tag).length;
        // One candidate: its own difference is the clearest report (State: expected Active,
        // got PreActive). Several: none of them is "the" counterpart, so name what is missing.
        if (candidates === 1 && firstMismatch) return firstMismatch;
        return { path: p, message: candidates === 0 ? 'missing' : `missing ${describeDeep(e, ctx)} (none of the ${candidates} ${tagLabel(e.tag)} items returned matches)` };
      }
    }
    return undefined;
  }

  for (let i = 0; i < exp.length; i++) {
    const e = exp[i]!;
    const p = pathOf(e);
    const a = act[i];
    if (!a) return { path: p, message: 'missing' };
    if (a.tag !== e.tag) {
      // Say which side is out of step: a missing expected item or an unexpected actual one.
      const later = act.slice(i).some((x) => x.tag === e.tag);
      return later
        ? { path: childPath(path, a, 0, 1), message: `unexpected ${describe(a)} (expected ${tagLabel(e.tag)} here)` }
        : { path: p, message: `missing (got ${describe(a)} instead)` };
    }
    const m = compareItem(e, a, p, ctx);
    if (m) return m;
  }
  if (act.length > exp.length) {
    const extra = act[exp.length]!;
    return { path: childPath(path, extra, 0, 1), message: `unexpected ${describe(extra)}` };
  }
  return undefined;
}
