import { createHash, createPublicKey, verify as nodeVerify, constants } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTestContext, type TestContext } from '../helpers/context.ts';
import { boolean, byteString, child, enumeration, integer, structure, type Struct } from '../../src/kmip/items.ts';
import { get } from '../../src/operations/get.ts';
import { revoke } from '../../src/operations/revoke.ts';
import { sign } from '../../src/operations/sign.ts';
import { signatureVerify } from '../../src/operations/signature-verify.ts';
import {
  CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, DigitalSignatureAlgorithm, HashingAlgorithm, KeyFormatType as KFT,
  PaddingMethod, RecommendedCurve, ResultReason, RevocationReasonCode, ValidityIndicator,
} from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { bytesOf, call, createPair, enumOf, params, reasonOf, uidField } from './crypto-helpers.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const msg = Buffer.from('01020304050607080910111213141516', 'hex');
const data = (b: Buffer) => byteString(Tag.Data, b);
const sigField = (b: Buffer) => byteString(Tag.SignatureData, b);
const rsaPair = () => createPair(t.ctx, [enumeration(Tag.CryptographicAlgorithm, Alg.RSA), integer(Tag.CryptographicLength, 2048)], CUM.Sign, CUM.Verify);
const ecPair = (curve: number) => createPair(t.ctx, [enumeration(Tag.CryptographicAlgorithm, Alg.ECDSA), structure(Tag.CryptographicDomainParameters, [enumeration(Tag.RecommendedCurve, curve)])], CUM.Sign, CUM.Verify);

async function publicKeyOf(uid: string) {
  const g = await call(t.ctx, get, [uidField(uid), enumeration(Tag.KeyFormatType, KFT.X_509)]);
  const kb = child(child(g, Tag.PublicKey) as Struct, Tag.KeyBlock) as Struct;
  const der = (child(child(kb, Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer }).value;
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

const validity = (r: Struct) => enumOf(r, Tag.ValidityIndicator);

describe('Sign / Signature Verify', () => {
  it('RSA-PSS SHA-256: the signature verifies locally and through the server; a wrong hash or message is Invalid, not an error', async () => {
    const { priv, pub } = await rsaPair();
    const pss = params(enumeration(Tag.PaddingMethod, PaddingMethod.PSS), enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256));
    const r = await call(t.ctx, sign, [uidField(priv), pss, data(msg)]);
    expect(r.value.map((c) => c.tag)).toEqual([Tag.UniqueIdentifier, Tag.SignatureData]);
    const sig = bytesOf(r, Tag.SignatureData);
    expect(nodeVerify('sha256', msg, { key: await publicKeyOf(pub), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig)).toBe(true);
    expect(validity(await call(t.ctx, signatureVerify, [uidField(pub), pss, data(msg), sigField(sig)]))).toBe(ValidityIndicator.Valid);
    const sha1 = params(enumeration(Tag.PaddingMethod, PaddingMethod.PSS), enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_1));
    expect(validity(await call(t.ctx, signatureVerify, [uidField(pub), sha1, data(msg), sigField(sig)]))).toBe(ValidityIndicator.Invalid);
    expect(validity(await call(t.ctx, signatureVerify, [uidField(pub), pss, data(Buffer.from('other')), sigField(sig)]))).toBe(ValidityIndicator.Invalid);
    expect(validity(await call(t.ctx, signatureVerify, [uidField(pub), pss, data(msg), sigField(Buffer.from('junk'))]))).toBe(ValidityIndicator.Invalid);
  });

  it('RSA PKCS#1 v1.5 over Digested Data equals the signature over the Data (deterministic scheme)', async () => {
    const { priv, pub } = await rsaPair();
    const p = params(enumeration(Tag.DigitalSignatureAlgorithm, DigitalSignatureAlgorithm.SHA_384WithRSAEncryption));
    const overData = bytesOf(await call(t.ctx, sign, [uidField(priv), p, data(msg)]), Tag.SignatureData);
    const digest = createHash('sha384').update(msg).digest();
    const overDigest = bytesOf(await call(t.ctx, sign, [uidField(priv), p, byteString(Tag.DigestedData, digest)]), Tag.SignatureData);
    expect(overDigest.equals(overData)).toBe(true);
    expect(validity(await call(t.ctx, signatureVerify, [uidField(pub), p, byteString(Tag.DigestedData, digest), sigField(overData)]))).toBe(ValidityIndicator.Valid);
    expect(await reasonOf(call(t.ctx, sign, [uidField(priv), p, data(msg), byteString(Tag.DigestedData, digest)]))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(call(t.ctx, sign, [uidField(priv), p, byteString(Tag.DigestedData, digest.subarray(1))]))).toBe(ResultReason.InvalidField);
  });

  it.each([[RecommendedCurve.P_256, 'sha256'], [RecommendedCurve.P_384, 'sha384'], [RecommendedCurve.P_521, 'sha512']] as const)(
    'ECDSA on curve 0x%s with its default hash %s', async (curve, hash) => {
      const { priv, pub } = await ecPair(curve);
      const sig = bytesOf(await call(t.ctx, sign, [uidField(priv), data(msg)]), Tag.SignatureData);
      expect(nodeVerify(hash, msg, await publicKeyOf(pub), sig)).toBe(true);
      expect(validity(await call(t.ctx, signatureVerify, [uidField(pub), data(msg), sigField(sig)]))).toBe(ValidityIndicator.Valid);
    },
  );

  it('Ed25519 signs and verifies; an RSA Digital Signature Algorithm on an EC key is Invalid Field', async () => {
    const { priv, pub } = await createPair(t.ctx, [enumeration(Tag.CryptographicAlgorithm, Alg.Ed25519)], CUM.Sign, CUM.Verify);
    const sig = bytesOf(await call(t.ctx, sign, [uidField(priv), data(msg)]), Tag.SignatureData);
    expect(sig.length).toBe(64);
    expect(nodeVerify(null, msg, await publicKeyOf(pub), sig)).toBe(true);
    expect(validity(await call(t.ctx, signatureVerify, [uidField(pub), data(msg), sigField(sig)]))).toBe(ValidityIndicator.Valid);
    const ec = await ecPair(RecommendedCurve.P_256);
    const rsaAlg = params(enumeration(Tag.DigitalSignatureAlgorithm, DigitalSignatureAlgorithm.SHA_256WithRSAEncryption));
    expect(await reasonOf(call(t.ctx, sign, [uidField(ec.priv), rsaAlg, data(msg)]))).toBe(ResultReason.InvalidField);
  });

  it('masks and states: the public key cannot Sign, a Deactivated key verifies but does not sign', async () => {
    const { priv, pub } = await rsaPair();
    expect(await reasonOf(call(t.ctx, sign, [uidField(pub), data(msg)]))).toBe(ResultReason.IncompatibleCryptographicUsageMask);
    const sig = bytesOf(await call(t.ctx, sign, [uidField(priv), data(msg)]), Tag.SignatureData);
    const reason = structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, RevocationReasonCode.CessationOfOperation)]);
    await call(t.ctx, revoke, [uidField(priv), reason]);
    await call(t.ctx, revoke, [uidField(pub), reason]);
    expect(await reasonOf(call(t.ctx, sign, [uidField(priv), data(msg)]))).toBe(ResultReason.WrongKeyLifecycleState);
    expect(validity(await call(t.ctx, signatureVerify, [uidField(pub), data(msg), sigField(sig)]))).toBe(ValidityIndicator.Valid);
  });

  it('multi-part: Sign in parts verifies as one message; Verify in parts answers Unknown, then Valid', async () => {
    const { priv, pub } = await rsaPair();
    const s1 = await call(t.ctx, sign, [uidField(priv), data(msg.subarray(0, 5)), boolean(Tag.InitIndicator, true)]);
    expect(child(s1, Tag.SignatureData)).toBeUndefined();
    const c = byteString(Tag.CorrelationValue, bytesOf(s1, Tag.CorrelationValue));
    const s2 = await call(t.ctx, sign, [data(msg.subarray(5)), c, boolean(Tag.FinalIndicator, true)]);
    const sig = bytesOf(s2, Tag.SignatureData);
    expect(validity(await call(t.ctx, signatureVerify, [uidField(pub), data(msg), sigField(sig)]))).toBe(ValidityIndicator.Valid);

    const v1 = await call(t.ctx, signatureVerify, [uidField(pub), data(msg.subarray(0, 9)), boolean(Tag.InitIndicator, true)]);
    expect(validity(v1)).toBe(ValidityIndicator.Unknown);
    const vc = byteString(Tag.CorrelationValue, bytesOf(v1, Tag.CorrelationValue));
    const v2 = await call(t.ctx, signatureVerify, [data(msg.subarray(9)), sigField(sig), vc, boolean(Tag.FinalIndicator, true)]);
    expect(v2.value.filter((i) => i.tag === Tag.ValidityIndicator)).toHaveLength(1);
    expect(validity(v2)).toBe(ValidityIndicator.Valid);
  });
});
