// TLS profiles of the KMIP ports (issue 13 §3): `tls.profile` = none | suiteb-128 | suiteb-192.
//
// The Suite B authentication suites of KMIP (KMIP Profiles 1.4, "Suite B minLOS_128" and
// "Suite B minLOS_192"; vectors SUITEB_128/192-M-1-14) defer to RFC 6460, "Suite B Profile
// for TLS":
//   - minLOS 128 (RFC 6460 §3.1): TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 with ECDHE on P-256,
//     and TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 with ECDHE on P-384 (a 192-bit session is
//     also acceptable at the 128-bit minimum); ECDSA signatures on P-256 with SHA-256 or on
//     P-384 with SHA-384 (RFC 6460 §4, §5).
//   - minLOS 192 (RFC 6460 §3.2): TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 with ECDHE on P-384
//     only; ECDSA on P-384 with SHA-384 only.
//   - the server certificate holds an ECDSA key of the profile's curve: P-256 (or P-384) at
//     minLOS 128, P-384 at minLOS 192 (RFC 6460 §4).
// RFC 6460 predates TLS 1.3; for a TLS 1.3 handshake the same limits are carried over: the
// AES-GCM suites of the same strengths (TLS_AES_128_GCM_SHA256 / TLS_AES_256_GCM_SHA384),
// the same groups and the same ECDSA signature schemes (RFC 9151 does the same for CNSA).
// Nothing else is offered, so a client outside the profile (another suite, another curve,
// an RSA key) fails the handshake.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { TLS_PROFILE_NAMES, type TlsProfileName } from '../config/index.ts';

/** The names are the configuration's (`tls.profile`), declared once in src/config. */
export const TLS_PROFILES = TLS_PROFILE_NAMES;
export type TlsProfile = TlsProfileName;

export interface TlsProfileSettings {
  /** OpenSSL names: TLS 1.2 cipher suites and TLS 1.3 suites (node splits them). */
  ciphers: string;
  /** ECDHE groups, most preferred first. */
  ecdhCurve: string;
  /** Signature schemes for both directions (server's CertificateVerify and the client's). */
  sigalgs: string;
  /** Named curves the server certificate's ECDSA key may use (node's names). */
  certificateCurves: readonly string[];
  /** What the profile is called in messages. */
  title: string;
}

export const TLS_PROFILE_SETTINGS: Readonly<Record<Exclude<TlsProfile, 'none'>, TlsProfileSettings>> = {
  'suiteb-128': {
    ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384',
    ecdhCurve: 'P-256:P-384',
    sigalgs: 'ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384',
    certificateCurves: ['prime256v1', 'secp384r1'],
    title: 'Suite B minLOS 128 (RFC 6460 §3.1)',
  },
  'suiteb-192': {
    ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384:TLS_AES_256_GCM_SHA384',
    ecdhCurve: 'P-384',
    sigalgs: 'ecdsa_secp384r1_sha384',
    certificateCurves: ['secp384r1'],
    title: 'Suite B minLOS 192 (RFC 6460 §3.2)',
  },
};

const CURVE_LABEL: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
const curveLabel = (c: string) => CURVE_LABEL[c] ?? c;

export class TlsProfileError extends Error {
  override readonly name = 'TlsProfileError';
}

export function isTlsProfile(v: unknown): v is TlsProfile {
  return typeof v === 'string' && (TLS_PROFILES as readonly string[]).includes(v);
}

/** The node:tls server options a profile adds; nothing for `none` (node's defaults, TLS 1.2/1.3). */
export function tlsProfileOptions(profile: TlsProfile | undefined): { ciphers?: string; ecdhCurve?: string; sigalgs?: string } {
  if (profile === undefined || profile === 'none') return {};
  const s = TLS_PROFILE_SETTINGS[profile];
  return { ciphers: s.ciphers, ecdhCurve: s.ecdhCurve, sigalgs: s.sigalgs };
}

/**
 * Refuses, at start, a server certificate the profile cannot use: a handshake would fail for
 * every client, which is far harder to diagnose than a one-line refusal. Checks the first
 * certificate of the chain (the leaf) and that the private key is of the same type.
 */
export function checkCertificateForProfile(profile: TlsProfile | undefined, certPem: string | Buffer, keyPem: string | Buffer): void {
  if (profile === undefined || profile === 'none') return;
  const s = TLS_PROFILE_SETTINGS[profile];
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new TlsProfileError(`tls.profile ${profile}: the server certificate cannot be read (${(e as Error).message})`);
  }
  const pub = cert.publicKey;
  const wanted = s.certificateCurves.map(curveLabel).join(' or ');
  if (pub.asymmetricKeyType !== 'ec') {
    throw new TlsProfileError(`tls.profile ${profile}: the server certificate has a ${(pub.asymmetricKeyType ?? 'unknown').toUpperCase()} key; ${s.title} needs an ECDSA key on ${wanted}`);
  }
  const curve = pub.asymmetricKeyDetails?.namedCurve ?? 'unknown curve';
  if (!s.certificateCurves.includes(curve)) {
    throw new TlsProfileError(`tls.profile ${profile}: the server certificate's ECDSA key is on ${curveLabel(curve)}; ${s.title} needs ${wanted}`);
  }
  let keyCurve: string | undefined;
  try {
    const k = createPrivateKey(keyPem);
    keyCurve = k.asymmetricKeyType === 'ec' ? k.asymmetricKeyDetails?.namedCurve : k.asymmetricKeyType;
  } catch (e) {
    throw new TlsProfileError(`tls.profile ${profile}: the server private key cannot be read (${(e as Error).message})`);
  }
  if (keyCurve !== curve) {
    throw new TlsProfileError(`tls.profile ${profile}: the server private key (${curveLabel(keyCurve ?? 'unknown')}) does not match the certificate's ECDSA key on ${curveLabel(curve)}`);
  }
}
