// What the kmipctl key commands (declared in commands.ts) do: KMIP 2.1 requests over mutual TLS to
// the KMIP port (src/client KmipClient). Payloads follow KMIP 2.1 §6.1 (Create §6.1.7, Get §6.1.23, Locate
// §6.1.28, Encrypt §6.1.20, Decrypt §6.1.12, Revoke §6.1.45, Destroy §6.1.16).
import { readFileSync } from 'node:fs';
import { KmipClient, KmipResponseError } from '../../client/index.ts';
import {
  byteString, child, children, dateTime, enumeration, integer, isStructure, optBytes, optEnum, optInt, optText, structure, textString, type Struct,
} from '../../kmip/items.ts';
import { Tag } from '../../ttlv/generated/tags.ts';
import {
  BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, NameType, ObjectType, Operation, RevocationReasonCode,
} from '../../ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { CliError, EXIT_FAILED, EXIT_USAGE, keyValues, table } from '../output.ts';
import { connectError, readTlsFiles } from './connection.ts';
import { list, positiveInt, type Action, type CommandContext } from './common.ts';


const nameOf = (table: Record<string, number>, v: number | undefined) => (v === undefined ? undefined : Object.entries(table).find(([, x]) => x === v)?.[0] ?? `0x${v.toString(16)}`);

function enumValue(table: Record<string, number>, raw: unknown, option: string): number {
  const s = String(raw);
  const hit = Object.entries(table).find(([k]) => k.toLowerCase() === s.toLowerCase().replace(/[-_\s]/g, ''));
  if (!hit) throw new CliError(EXIT_USAGE, `${option}: "${s}" is not one of ${Object.keys(table).join(', ')}`);
  return hit[1];
}

function hexOrFile(o: Record<string, unknown>, hexOpt: string, fileOpt: string, what: string): Buffer {
  const hex = o[hexOpt];
  const file = o[fileOpt];
  if ((hex === undefined) === (file === undefined)) throw new CliError(EXIT_USAGE, `give the ${what} with exactly one of --${hexOpt} HEX or --${fileOpt.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} FILE`);
  if (file !== undefined) {
    try {
      return readFileSync(String(file));
    } catch (e) {
      throw new CliError(EXIT_USAGE, `cannot read ${String(file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  return parseHex(hex, `--${hexOpt}`);
}

function parseHex(v: unknown, option: string): Buffer {
  const s = String(v).replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(s)) throw new CliError(EXIT_USAGE, `${option} must be hex (an even number of hex digits)`);
  return Buffer.from(s, 'hex');
}

/** Opens a KMIP connection with the same certificate settings as the admin commands. */
async function withKmip<T>(ctx: CommandContext, fn: (c: KmipClient) => Promise<T>): Promise<T> {
  const s = ctx.settings();
  const tls = readTlsFiles(s);
  let client: KmipClient;
  try {
    client = await KmipClient.connect({ host: s.kmip.host, port: s.kmip.port, ...tls, timeoutMs: 30_000 });
  } catch (e) {
    throw connectError(e as NodeJS.ErrnoException, `${s.kmip.host}:${s.kmip.port}`);
  }
  try {
    return await fn(client);
  } catch (e) {
    if (e instanceof KmipResponseError) {
      throw new CliError(EXIT_FAILED, e.message, 'ItemNotFound also means "not visible to your identity"; PermissionDenied: check your role (kmipctl status)');
    }
    if (e instanceof CliError) throw e;
    throw connectError(e as NodeJS.ErrnoException, `${s.kmip.host}:${s.kmip.port}`);
  } finally {
    await client.close();
  }
}

const uidItem = (uid: string) => textString(Tag.UniqueIdentifier, uid);

function keyBlockFacts(payload: Struct): Record<string, unknown> {
  const objectType = optEnum(payload, Tag.ObjectType);
  const facts: Record<string, unknown> = { uniqueIdentifier: optText(payload, Tag.UniqueIdentifier), objectType: nameOf(ObjectType, objectType) };
  const obj = payload.value.find((i) => isStructure(i) && i.tag !== Tag.ObjectType && i.tag !== Tag.UniqueIdentifier);
  const block = obj && isStructure(obj) ? child(obj, Tag.KeyBlock) : undefined;
  if (block && isStructure(block)) {
    facts.algorithm = nameOf(CryptographicAlgorithm, optEnum(block, Tag.CryptographicAlgorithm));
    facts.length = optInt(block, Tag.CryptographicLength);
    const kv = child(block, Tag.KeyValue);
    const material = kv && isStructure(kv) ? child(kv, Tag.KeyMaterial) : undefined;
    if (material && Buffer.isBuffer(material.value)) facts.keyMaterial = material.value.toString('hex');
  }
  return facts;
}


/** What the kmipctl key commands do; declared in commands.ts, which loads this file when one runs. */
export const ACTIONS = {
  create: async (ctx, _a, o) => {
    const algorithm = enumValue(CryptographicAlgorithm, o.algorithm ?? 'AES', '--algorithm');
    const length = positiveInt(o.length ?? '256', '--length', 8192)!;
    let mask = 0;
    for (const u of list(o.usage ?? 'Encrypt,Decrypt', '--usage')!) mask |= enumValue(CryptographicUsageMask, u, '--usage');
    const attrs: TtlvItem[] = [
      enumeration(Tag.CryptographicAlgorithm, algorithm),
      integer(Tag.CryptographicLength, length),
      integer(Tag.CryptographicUsageMask, mask),
    ];
    for (const n of (o.name as string[] | undefined) ?? []) {
      attrs.push(structure(Tag.Name, [textString(Tag.NameValue, n), enumeration(Tag.NameType, NameType.UninterpretedTextString)]));
    }
    const result = await withKmip(ctx, async (c) => {
      const r = await c.request(Operation.Create, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, attrs)]);
      const uid = optText(r, Tag.UniqueIdentifier)!;
      if (o.activate) await c.request(Operation.Activate, [uidItem(uid)]);
      return { uniqueIdentifier: uid, activated: o.activate === true };
    });
    ctx.out.print(result, (d) => `${d.uniqueIdentifier}\n`);
  },
  get: async (ctx, [uid], o) => {
    const facts = await withKmip(ctx, async (c) => keyBlockFacts(await c.request(Operation.Get, [uidItem(uid!)])));
    if (!o.material) delete facts.keyMaterial;
    ctx.out.print(facts, (d) => keyValues(d));
  },
  locate: async (ctx, _a, o) => {
    const items: TtlvItem[] = [];
    const max = positiveInt(o.max, '--max', 100_000);
    if (max !== undefined) items.push(integer(Tag.MaximumItems, max));
    const attrs: TtlvItem[] = [];
    if (o.name !== undefined) attrs.push(structure(Tag.Name, [textString(Tag.NameValue, String(o.name)), enumeration(Tag.NameType, NameType.UninterpretedTextString)]));
    if (o.type !== undefined) attrs.push(enumeration(Tag.ObjectType, enumValue(ObjectType, o.type, '--type')));
    items.push(structure(Tag.Attributes, attrs));
    const uids = await withKmip(ctx, async (c) => children(await c.request(Operation.Locate, items), Tag.UniqueIdentifier).map((i) => String(i.value)));
    ctx.out.print({ uniqueIdentifiers: uids }, (d) => table(d.uniqueIdentifiers.map((u) => ({ u })), [['u', 'UNIQUE IDENTIFIER']]));
  },
  encrypt: async (ctx, [uid], o) => {
    const data = hexOrFile(o, 'data', 'in', 'plaintext');
    const mode = enumValue(BlockCipherMode, o.mode ?? 'GCM', '--mode');
    const params: TtlvItem[] = [enumeration(Tag.BlockCipherMode, mode)];
    if (mode === BlockCipherMode.GCM) params.push(integer(Tag.TagLength, 16));
    const items: TtlvItem[] = [uidItem(uid!), structure(Tag.CryptographicParameters, params), byteString(Tag.Data, data)];
    if (o.iv !== undefined) items.push(byteString(Tag.IVCounterNonce, parseHex(o.iv, '--iv')));
    const r = await withKmip(ctx, (c) => c.request(Operation.Encrypt, items));
    const out = { uniqueIdentifier: optText(r, Tag.UniqueIdentifier), data: optBytes(r, Tag.Data)?.toString('hex'),
      iv: optBytes(r, Tag.IVCounterNonce)?.toString('hex') ?? (o.iv !== undefined ? String(o.iv) : undefined), tag: optBytes(r, Tag.AuthenticatedEncryptionTag)?.toString('hex') };
    ctx.out.print(out, (d) => keyValues(d));
  },
  decrypt: async (ctx, [uid], o) => {
    const data = hexOrFile(o, 'data', 'in', 'ciphertext');
    const mode = enumValue(BlockCipherMode, o.mode ?? 'GCM', '--mode');
    const params: TtlvItem[] = [enumeration(Tag.BlockCipherMode, mode)];
    if (mode === BlockCipherMode.GCM) params.push(integer(Tag.TagLength, 16));
    const items: TtlvItem[] = [uidItem(uid!), structure(Tag.CryptographicParameters, params), byteString(Tag.Data, data)];
    if (o.iv !== undefined) items.push(byteString(Tag.IVCounterNonce, parseHex(o.iv, '--iv')));
    if (o.tag !== undefined) items.push(byteString(Tag.AuthenticatedEncryptionTag, parseHex(o.tag, '--tag')));
    const r = await withKmip(ctx, (c) => c.request(Operation.Decrypt, items));
    const plain = optBytes(r, Tag.Data) ?? Buffer.alloc(0);
    if (ctx.out.json) ctx.out.print({ uniqueIdentifier: optText(r, Tag.UniqueIdentifier), data: plain.toString('hex') }, () => '');
    else if (o.raw) process.stdout.write(plain);
    else process.stdout.write(plain.toString('hex') + '\n');
  },
  revoke: async (ctx, [uid], o) => {
    const code = enumValue(RevocationReasonCode, o.reason ?? 'Unspecified', '--reason');
    const reason: TtlvItem[] = [enumeration(Tag.RevocationReasonCode, code)];
    if (o.message !== undefined) reason.push(textString(Tag.RevocationMessage, String(o.message)));
    const items: TtlvItem[] = [uidItem(uid!), structure(Tag.RevocationReason, reason)];
    // KMIP 2.1 §6.1.45: a compromise carries the date it happened (now, unless known better).
    if (code === RevocationReasonCode.KeyCompromise || code === RevocationReasonCode.CACompromise) items.push(dateTime(Tag.CompromiseOccurrenceDate, new Date()));
    await withKmip(ctx, (c) => c.request(Operation.Revoke, items));
    ctx.out.print({ uniqueIdentifier: uid, revoked: true }, () => `revoked ${uid}\n`);
  },
  destroy: async (ctx, [uid]) => {
    await withKmip(ctx, (c) => c.request(Operation.Destroy, [uidItem(uid!)]));
    ctx.out.print({ uniqueIdentifier: uid, destroyed: true }, () => `destroyed ${uid}\n`);
  },
} satisfies Record<string, Action>;
