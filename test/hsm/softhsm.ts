// Test helper: a private SoftHSM2 installation in a temporary folder.
//
// SoftHSM reads SOFTHSM2_CONF when the library is C_Initialize'd, and Cryptoki keeps that
// state for the whole process. So a test file creates one SoftHsm (which sets
// SOFTHSM2_CONF) and initialises all its tokens before the first provider opens.
//
// Token administration (creating, deleting, changing keys) runs in a child process, as the
// customer's own HSM console would: it never shares Cryptoki state with the provider under
// test, and the provider must notice changes made behind its back.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSoftHsmLibrary } from '../../src/hsm/pkcs11.ts';

const PKCS11JS = createRequire(import.meta.url).resolve('pkcs11js');

export interface AesKeySpec {
  label: string;
  /** CKA_ID in hex. */
  id?: string;
  bits?: 128 | 192 | 256;
  encrypt?: boolean;
  decrypt?: boolean;
  wrap?: boolean;
  unwrap?: boolean;
}

// The admin script run by the child: one JSON command in argv[1], one JSON answer on stdout.
const ADMIN_SCRIPT = `
const p = require(process.env.OPENKCM_PKCS11JS);
const cmd = JSON.parse(process.argv[1]);
const m = new p.PKCS11();
m.load(cmd.library);
m.C_Initialize();
try {
  const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.replace(/ +$/, '') === cmd.token);
  if (!slot) throw new Error('no token ' + cmd.token);
  const s = m.C_OpenSession(slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
  m.C_Login(s, p.CKU_USER, cmd.pin);
  const find = (label) => {
    m.C_FindObjectsInit(s, [{ type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }, { type: p.CKA_LABEL, value: label }]);
    const h = m.C_FindObjects(s, 16);
    m.C_FindObjectsFinal(s);
    return h;
  };
  let out = {};
  if (cmd.op === 'generate') {
    const k = cmd.key;
    const t = [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
      { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_LABEL, value: k.label },
      { type: p.CKA_VALUE_LEN, value: (k.bits || 256) / 8 },
      { type: p.CKA_ENCRYPT, value: k.encrypt !== false },
      { type: p.CKA_DECRYPT, value: k.decrypt !== false },
      { type: p.CKA_WRAP, value: k.wrap !== false },
      { type: p.CKA_UNWRAP, value: k.unwrap !== false },
      { type: p.CKA_EXTRACTABLE, value: false },
      { type: p.CKA_SENSITIVE, value: true },
    ];
    if (k.id) t.push({ type: p.CKA_ID, value: Buffer.from(k.id, 'hex') });
    m.C_GenerateKey(s, { mechanism: p.CKM_AES_KEY_GEN }, t);
  } else if (cmd.op === 'destroy') {
    const h = find(cmd.label);
    for (const x of h) m.C_DestroyObject(s, x);
    out = { destroyed: h.length };
  } else if (cmd.op === 'set') {
    const h = find(cmd.label);
    const names = { encrypt: p.CKA_ENCRYPT, decrypt: p.CKA_DECRYPT, wrap: p.CKA_WRAP, unwrap: p.CKA_UNWRAP };
    const t = Object.entries(cmd.flags).map(([n, v]) => ({ type: names[n], value: v }));
    for (const x of h) m.C_SetAttributeValue(s, x, t);
    out = { changed: h.length };
  } else if (cmd.op === 'count') {
    out = { count: find(cmd.label).length };
  } else {
    throw new Error('unknown op ' + cmd.op);
  }
  m.C_Logout(s);
  m.C_CloseSession(s);
  process.stdout.write(JSON.stringify(out));
} finally {
  m.C_Finalize();
}
`;

export class SoftHsm {
  readonly dir: string;
  readonly conf: string;
  readonly library: string;

  /** Creates the folder and the configuration and points SOFTHSM2_CONF at it. */
  constructor() {
    const library = findSoftHsmLibrary();
    if (library === undefined) throw new Error('libsofthsm2.so not found under /usr/lib: apt-get install -y softhsm2');
    try {
      execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('softhsm2-util not found: apt-get install -y softhsm2');
    }
    this.library = library;
    this.dir = mkdtempSync(join(tmpdir(), 'openkcm-softhsm-'));
    this.conf = join(this.dir, 'softhsm2.conf');
    const tokens = join(this.dir, 'tokens');
    mkdirSync(tokens, { recursive: true });
    writeFileSync(this.conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
    process.env.SOFTHSM2_CONF = this.conf;
  }

  private get env(): NodeJS.ProcessEnv {
    return { ...process.env, SOFTHSM2_CONF: this.conf, OPENKCM_PKCS11JS: PKCS11JS };
  }

  /** softhsm2-util --init-token --free: a new token in the first free slot. */
  initToken(label: string, pin: string, soPin = 'so-' + pin): void {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], { env: this.env, stdio: 'pipe' });
  }

  private admin(token: string, pin: string, cmd: Record<string, unknown>): Record<string, number> {
    const out = execFileSync(process.execPath, ['-e', ADMIN_SCRIPT, JSON.stringify({ ...cmd, library: this.library, token, pin })], {
      env: this.env,
      encoding: 'utf8',
    });
    return JSON.parse(out) as Record<string, number>;
  }

  /** C_GenerateKey of a token AES key, sensitive and not extractable. */
  generateAesKey(token: string, pin: string, key: AesKeySpec): void {
    this.admin(token, pin, { op: 'generate', key });
  }

  /** C_DestroyObject of every secret key with that label; returns how many were destroyed. */
  destroyKey(token: string, pin: string, label: string): number {
    return this.admin(token, pin, { op: 'destroy', label }).destroyed!;
  }

  setKeyFlags(token: string, pin: string, label: string, flags: Partial<Record<'encrypt' | 'decrypt' | 'wrap' | 'unwrap', boolean>>): number {
    return this.admin(token, pin, { op: 'set', label, flags }).changed!;
  }

  countKeys(token: string, pin: string, label: string): number {
    return this.admin(token, pin, { op: 'count', label }).count!;
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
