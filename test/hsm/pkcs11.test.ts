// The PKCS#11 L1 provider against a real SoftHSM2 token (Debian softhsm2), initialised in a
// temporary folder by test/hsm/softhsm.ts. Key administration (create, delete, flag
// changes) runs in a child process, as the customer's HSM console would.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSoftHsmLibrary, PKCS11_BLOB_GCM_V1, PKCS11_BLOB_KWP_V1, Pkcs11L1Provider, type Pkcs11L1Options } from '../../src/hsm/pkcs11.ts';
import { openL1Provider } from '../../src/hsm/index.ts';
import { L1Error } from '../../src/hsm/software.ts';
import { runL1ProviderContract } from './contract.ts';
import { SoftHsm } from './softhsm.ts';

const TOKEN = 'openkcm-l1';
const PIN = '4711-user';
const TOKEN_B = 'openkcm-other';
const PIN_B = '0815-other';
const PIN_ENV = 'OPENKCM_TEST_PKCS11_PIN';

// Cryptoki reads SOFTHSM2_CONF at C_Initialize, once per process: every token of this file
// is created here, before any provider opens.
const hsm = new SoftHsm();
hsm.initToken(TOKEN, PIN);
hsm.initToken(TOKEN_B, PIN_B);
process.env[PIN_ENV] = PIN;

let keySeq = 0;
const freshKey = (prefix = 'k'): string => {
  const label = `${prefix}-${++keySeq}`;
  hsm.generateAesKey(TOKEN, PIN, { label });
  return label;
};
const options = (keyLabel: string, extra: Partial<Pkcs11L1Options> = {}): Pkcs11L1Options => ({
  library: hsm.library,
  tokenLabel: TOKEN,
  pinEnv: PIN_ENV,
  keyLabel,
  ...extra,
});

afterAll(() => hsm.dispose());

for (const mechanism of ['auto', 'aes-kwp'] as const) {
  runL1ProviderContract(
    `pkcs11 (SoftHSM2, ${mechanism})`,
    async () => {
      const label = freshKey(mechanism);
      const provider = await Pkcs11L1Provider.open(options(label, { mechanism }));
      const flags = provider.mechanism === 'aes-gcm' ? (['encrypt', 'decrypt'] as const) : (['wrap', 'unwrap'] as const);
      const setFlags = async (on: boolean) => {
        expect(hsm.setKeyFlags(TOKEN, PIN, label, Object.fromEntries(flags.map((f) => [f, on])))).toBe(1);
      };
      return {
        provider,
        revokeKey: async () => {
          expect(hsm.destroyKey(TOKEN, PIN, label)).toBe(1);
        },
        disableKey: () => setFlags(false),
        enableKey: () => setFlags(true),
      };
    },
    { revoke: true, disable: true },
  );
}

describe('Pkcs11L1Provider on SoftHSM2', () => {
  const open: Pkcs11L1Provider[] = [];
  const track = (p: Pkcs11L1Provider) => (open.push(p), p);
  afterAll(async () => {
    for (const p of open) await p.close();
  });

  let label: string;
  beforeAll(() => {
    label = freshKey('shared');
  });

  it('finds the library under /usr/lib and chooses AES-GCM, SoftHSM offering it', async () => {
    expect(findSoftHsmLibrary()).toBe(hsm.library);
    const l1 = track(await Pkcs11L1Provider.open({ tokenLabel: TOKEN, pinEnv: PIN_ENV, keyLabel: label }));
    expect(l1.mechanism).toBe('aes-gcm');
    const blob = await l1.wrap(Buffer.alloc(32, 5), 'tenant:a');
    // format | 96-bit IV | ciphertext | 128-bit tag
    expect(blob[0]).toBe(PKCS11_BLOB_GCM_V1);
    expect(blob.length).toBe(1 + 12 + 32 + 16);
    expect(l1.describe()).toEqual({ provider: 'pkcs11', keyRef: `pkcs11:token=${TOKEN};object=${label};type=secret-key`, developmentOnly: false });
  });

  it('a blob wrapped under context A does not unwrap under B, in either mechanism', async () => {
    for (const mechanism of ['aes-gcm', 'aes-kwp'] as const) {
      const l1 = track(await Pkcs11L1Provider.open(options(label, { mechanism })));
      const blob = await l1.wrap(Buffer.from('an L2 key of tenant A'), 'tenant:A/l2/v1');
      const err = await l1.unwrap(blob, 'tenant:B/l2/v1').catch((e: unknown) => e);
      expect(err, mechanism).toBeInstanceOf(L1Error);
      expect((err as Error).message, mechanism).toMatch(/another context/);
      expect((err as L1Error).status, mechanism).toBeUndefined(); // a wrong blob says nothing about the key
      expect((await l1.unwrap(blob, 'tenant:A/l2/v1')).toString()).toBe('an L2 key of tenant A');
    }
  });

  it('AES key wrap blobs: format byte, RFC 5649 length, odd plaintext sizes round-trip', async () => {
    const l1 = track(await Pkcs11L1Provider.open(options(label, { mechanism: 'aes-kwp' })));
    expect(l1.mechanism).toBe('aes-kwp');
    for (const n of [0, 1, 7, 8, 32, 33, 100]) {
      const p = Buffer.alloc(n, n);
      const blob = await l1.wrap(p, 'c');
      expect(blob[0]).toBe(PKCS11_BLOB_KWP_V1);
      // inner record = 53-byte header + n, padded to 8, plus the 8-byte RFC 5649 block
      expect(blob.length - 1).toBe(Math.ceil((53 + n) / 8) * 8 + 8);
      expect(await l1.unwrap(blob, 'c')).toEqual(p);
    }
  });

  it('unwrap follows the blob format, so blobs survive a change of mechanism', async () => {
    const gcm = track(await Pkcs11L1Provider.open(options(label, { mechanism: 'aes-gcm' })));
    const kwp = track(await Pkcs11L1Provider.open(options(label, { mechanism: 'aes-kwp' })));
    expect(await kwp.unwrap(await gcm.wrap(Buffer.from('g'), 'x'), 'x')).toEqual(Buffer.from('g'));
    expect(await gcm.unwrap(await kwp.wrap(Buffer.from('k'), 'x'), 'x')).toEqual(Buffer.from('k'));
    const bad = await gcm.wrap(Buffer.from('g'), 'x');
    bad[0] = 0x7f;
    await expect(gcm.unwrap(bad, 'x')).rejects.toThrow(/unknown format byte 0x7f/);
  });

  it('finds the key by CKA_ID as well as by label', async () => {
    hsm.generateAesKey(TOKEN, PIN, { label: 'by-id', id: 'a1b2c3' });
    const l1 = track(await Pkcs11L1Provider.open({ library: hsm.library, tokenLabel: TOKEN, pinEnv: PIN_ENV, keyId: 'A1B2C3' }));
    expect(await l1.status()).toEqual({ state: 'active' });
    expect(l1.describe().keyRef).toBe(`pkcs11:token=${TOKEN};id=%a1%b2%c3;type=secret-key`);
    expect(await l1.unwrap(await l1.wrap(Buffer.from('x'), 'c'), 'c')).toEqual(Buffer.from('x'));
  });

  it('reads the PIN from a file (mode 0600), and refuses a file every user can read', async () => {
    const pinFile = join(hsm.dir, 'pin');
    writeFileSync(pinFile, PIN + '\n', { mode: 0o600 });
    const l1 = track(await Pkcs11L1Provider.open({ library: hsm.library, tokenLabel: TOKEN, pinFile, keyLabel: label }));
    expect(await l1.status()).toEqual({ state: 'active' });
    chmodSync(pinFile, 0o644);
    await expect(Pkcs11L1Provider.open({ library: hsm.library, tokenLabel: TOKEN, pinFile, keyLabel: label })).rejects.toThrow(
      new RegExp(`accessible to every user \\(mode 0644\\); run: chmod 600 ${pinFile}`),
    );
  });

  it('a PIN environment variable that is not set is named in the error, and no PIN is ever echoed', async () => {
    const err = await Pkcs11L1Provider.open(options(label, { pinEnv: 'OPENKCM_TEST_NO_SUCH_PIN' })).catch((e: unknown) => e);
    expect((err as Error).message).toBe('pkcs11: the PIN environment variable OPENKCM_TEST_NO_SUCH_PIN is not set');
  });

  it('a wrong PIN gives a clear error naming the token, the PIN source and CKR_PIN_INCORRECT', async () => {
    process.env.OPENKCM_TEST_WRONG_PIN = 'not-the-pin';
    hsm.generateAesKey(TOKEN_B, PIN_B, { label: 'b-key' });
    const err = await Pkcs11L1Provider.open({ library: hsm.library, tokenLabel: TOKEN_B, pinEnv: 'OPENKCM_TEST_WRONG_PIN', keyLabel: 'b-key' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(L1Error);
    expect((err as Error).message).toBe(
      `pkcs11: token ${TOKEN_B} refused the PIN from environment variable OPENKCM_TEST_WRONG_PIN (CKR_PIN_INCORRECT)`,
    );
    expect((err as Error).message).not.toContain('not-the-pin');
    // With the right PIN the same token opens.
    process.env.OPENKCM_TEST_RIGHT_PIN_B = PIN_B;
    const ok = track(await Pkcs11L1Provider.open({ library: hsm.library, tokenLabel: TOKEN_B, pinEnv: 'OPENKCM_TEST_RIGHT_PIN_B', keyLabel: 'b-key' }));
    expect(await ok.status()).toEqual({ state: 'active' });
  });

  it('a wrong PIN is refused even while this process is already logged in to the token', async () => {
    // Cryptoki login state is per process and token, so C_Login would answer
    // CKR_USER_ALREADY_LOGGED_IN whatever the PIN: the provider compares the PINs itself.
    track(await Pkcs11L1Provider.open(options(label)));
    process.env.OPENKCM_TEST_WRONG_PIN_2 = PIN + 'x';
    await expect(Pkcs11L1Provider.open(options(label, { pinEnv: 'OPENKCM_TEST_WRONG_PIN_2' }))).rejects.toThrow(
      /differs from the PIN this process logged in to token openkcm-l1 with \(CKR_PIN_INCORRECT\)/,
    );
  });

  it('deleting the key on the token: status revoked with detail, unwrap refused as revoked', async () => {
    const victim = freshKey('victim');
    const l1 = await Pkcs11L1Provider.open(options(victim));
    try {
      const blob = await l1.wrap(Buffer.alloc(32, 8), 'tenant:x');
      expect(hsm.destroyKey(TOKEN, PIN, victim)).toBe(1);
      expect(await l1.status()).toEqual({
        state: 'revoked',
        detail: `pkcs11: no AES key labelled "${victim}" on token ${TOKEN} (deleted, or never created)`,
      });
      const err = await l1.unwrap(blob, 'tenant:x').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(L1Error);
      expect((err as L1Error).status).toBe('revoked');
      // A new key under the same label is another key: the old blob stays closed.
      hsm.generateAesKey(TOKEN, PIN, { label: victim });
      expect(await l1.status()).toEqual({ state: 'active' });
      await expect(l1.unwrap(blob, 'tenant:x')).rejects.toThrow(/another key/);
      expect(await l1.unwrap(await l1.wrap(Buffer.from('new'), 'c'), 'c')).toEqual(Buffer.from('new'));
    } finally {
      await l1.close();
    }
  });

  it('usage flags turned off on the token: status disabled naming the flags, unwrap refused with the CKR name', async () => {
    const k = freshKey('flags');
    const l1 = await Pkcs11L1Provider.open(options(k));
    try {
      const blob = await l1.wrap(Buffer.from('x'), 'c');
      hsm.setKeyFlags(TOKEN, PIN, k, { decrypt: false });
      expect(await l1.status()).toEqual({ state: 'disabled', detail: `pkcs11: the AES key labelled "${k}" on token ${TOKEN} has CKA_DECRYPT off` });
      const err = await l1.unwrap(blob, 'c').catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/C_DecryptInit failed on token openkcm-l1 \(CKR_KEY_FUNCTION_NOT_PERMITTED\)/);
      expect((err as L1Error).status).toBe('disabled');
    } finally {
      await l1.close();
    }
  });

  it('a key usable by neither mechanism is refused at open', async () => {
    hsm.generateAesKey(TOKEN, PIN, { label: 'useless', encrypt: false, decrypt: false, wrap: false, unwrap: false });
    const err = await Pkcs11L1Provider.open(options('useless')).catch((e: unknown) => e);
    expect((err as L1Error).status).toBe('disabled');
    expect((err as Error).message).toMatch(/neither AES-GCM .* nor AES key wrap with padding/);
    // Only WRAP/UNWRAP on: auto falls back to key wrap.
    hsm.generateAesKey(TOKEN, PIN, { label: 'wrap-only', encrypt: false, decrypt: false });
    const l1 = track(await Pkcs11L1Provider.open(options('wrap-only')));
    expect(l1.mechanism).toBe('aes-kwp');
    expect(await l1.unwrap(await l1.wrap(Buffer.from('w'), 'c'), 'c')).toEqual(Buffer.from('w'));
  });

  it('open fails clearly: missing key (revoked), unknown token or library (unreachable)', async () => {
    const missing = await Pkcs11L1Provider.open(options('no-such-key')).catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 'revoked', message: `pkcs11: no AES key labelled "no-such-key" on token ${TOKEN} (deleted, or never created)` });
    const token = await Pkcs11L1Provider.open(options(label, { tokenLabel: 'no-such-token' })).catch((e: unknown) => e);
    expect(token).toMatchObject({ status: 'unreachable' });
    expect((token as Error).message).toMatch(/no token labelled "no-such-token" in library/);
    const lib = await Pkcs11L1Provider.open(options(label, { library: '/nonexistent/libpkcs11.so' })).catch((e: unknown) => e);
    expect(lib).toMatchObject({ status: 'unreachable' });
    expect((lib as Error).message).toMatch(/library \/nonexistent\/libpkcs11.so cannot be found \(ENOENT\)/);
    const notALib = await Pkcs11L1Provider.open(options(label, { library: hsm.conf })).catch((e: unknown) => e);
    expect((notALib as Error).message).toMatch(/cannot be loaded/);
  });

  it('refuses a configuration that carries a PIN value, or is ambiguous, naming the field', async () => {
    const withPin = { ...options(label), pin: PIN } as Pkcs11L1Options;
    await expect(Pkcs11L1Provider.open(withPin)).rejects.toThrow(/^pkcs11\.pin: a PIN value is not accepted in configuration/);
    await expect(Pkcs11L1Provider.open({ ...options(label), pinFile: '/x' })).rejects.toThrow(/pkcs11\.pinEnv\/pinFile: give exactly one/);
    await expect(Pkcs11L1Provider.open({ ...options(label), keyId: '01' })).rejects.toThrow(/pkcs11\.keyLabel\/keyId: give exactly one/);
    await expect(Pkcs11L1Provider.open({ library: hsm.library, tokenLabel: TOKEN, pinEnv: PIN_ENV, keyId: 'xyz' })).rejects.toThrow(/pkcs11\.keyId: must be the CKA_ID in hex/);
    await expect(Pkcs11L1Provider.open(options(label, { maxSessions: 0 }))).rejects.toThrow(/pkcs11\.maxSessions/);
  });

  it('a session pool: 24 concurrent wraps run on at most maxSessions sessions, which are reused', async () => {
    const l1 = track(await Pkcs11L1Provider.open(options(label, { maxSessions: 3 })));
    const inputs = Array.from({ length: 24 }, (_, i) => Buffer.alloc(32, i));
    const blobs = await Promise.all(inputs.map((p, i) => l1.wrap(p, `ctx-${i}`)));
    const back = await Promise.all(blobs.map((b, i) => l1.unwrap(b, `ctx-${i}`)));
    expect(back).toEqual(inputs);
    const stats = l1.sessionStats();
    expect(stats.peak).toBeGreaterThan(1);
    expect(stats.peak).toBeLessThanOrEqual(3);
    expect(stats.open).toBe(stats.idle);
    expect(stats.opened).toBe(stats.peak); // never more sessions opened than were needed at once
  });

  it('openL1Provider opens it from a typed config, the PIN variable looked up in the given env', async () => {
    const l1 = await openL1Provider(
      { provider: 'pkcs11', library: hsm.library, tokenLabel: TOKEN, pinEnv: 'HSM_PIN', keyLabel: label, mechanism: 'aes-gcm', maxSessions: 2 },
      { env: { HSM_PIN: PIN } },
    );
    try {
      expect(l1.describe().provider).toBe('pkcs11');
      expect(await l1.unwrap(await l1.wrap(Buffer.from('cfg'), 'c'), 'c')).toEqual(Buffer.from('cfg'));
    } finally {
      await l1.close();
    }
    await expect(openL1Provider({ provider: 'pkcs11', tokenLabel: TOKEN, pinEnv: 'HSM_PIN', keyLabel: label, pin: PIN } as never)).rejects.toThrow(
      /^l1\.pin: a PIN value is not accepted/,
    );
  });

  it('after close: status unreachable, wrap refused', async () => {
    const l1 = await Pkcs11L1Provider.open(options(label));
    await l1.close();
    expect(await l1.status()).toEqual({ state: 'unreachable', detail: 'pkcs11: provider is closed' });
    await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toThrow(/closed/);
    await l1.close(); // twice is harmless
  });
});
