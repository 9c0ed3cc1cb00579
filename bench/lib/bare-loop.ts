// The ceiling of a KMIP server on this machine (issue 12 §1): a bare Node TLS loop with the
// listener settings of src/server/listener.ts (TLS 1.2–1.3, client certificate required and
// verified, Nagle off) that does only what no KMIP server can skip: it frames requests by
// their 8-byte TTLV header and AES-256-GCM-encrypts 64 bytes (the request's Data, or 64 zero
// bytes) with a fresh random 12-byte IV per request. No decode, no policy, no store, no log,
// no audit. It answers each request with a response encoded once at start for the request's
// operation (found by searching the frame for the Operation field), with the ciphertext, IV
// and tag of this request written in (Encrypt), so the benchmark client checks its answers
// exactly as it checks OpenKCM's.
//
// Runs in its own process like the servers it is compared with: the parent calls
// startBareLoop(); this file is the child's entry point.
import { fork, type ChildProcess } from 'node:child_process';
import { createCipheriv, randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { DevPkiFiles } from '../../src/server/devpki.ts';
import type { ProtocolVersion } from '../../src/kmip/version.ts';
import { stopChild } from './proc.ts';
import type { ServerHandle } from './openkcm-server.ts';

export interface BareLoopLaunch {
  pki: DevPkiFiles;
  /** Version of the canned responses (the benchmark's request version). */
  version: ProtocolVersion;
}

type FromChild = { type: 'ready'; port: number } | { type: 'error'; message: string };

const SELF = fileURLToPath(import.meta.url);

export async function startBareLoop(name: string, launch: BareLoopLaunch, timeoutMs = 30_000): Promise<ServerHandle> {
  const child: ChildProcess = fork(SELF, ['--child', JSON.stringify(launch)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${name}: not ready after ${timeoutMs} ms`)); child.kill('SIGKILL'); }, timeoutMs);
    child.once('message', (m: FromChild) => {
      clearTimeout(timer);
      if (m.type === 'ready') resolve(m.port);
      else reject(new Error(`${name}: ${m.message}`));
    });
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`${name}: exited during start-up (${code ?? signal})`)); });
  });
  child.removeAllListeners('exit');
  return { name, host: '127.0.0.1', port, pid: child.pid, stop: () => stopChild(child, 5_000) };
}

/** Byte pattern of an item header: 3-byte tag, 1-byte type (KMIP 2.1 §9.1.1). */
function header(tag: number, type: number, length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUIntBE(tag, 0, 3);
  b[3] = type;
  b.writeUInt32BE(length, 4);
  return b;
}

/** Offset of the value of the first item with this header in `buf`, or -1. */
const valueAt = (buf: Buffer, h: Buffer, from = 0): number => {
  const i = buf.indexOf(h, from);
  return i < 0 ? -1 : i + 8;
};

async function childMain(launch: BareLoopLaunch): Promise<void> {
  const send = (m: FromChild) => process.send?.(m);
  try {
    const { encode } = await import('../../src/ttlv/encode.ts');
    const { Tag } = await import('../../src/ttlv/generated/tags.ts');
    const { Operation, ResultStatus, ObjectType, KeyFormatType, CryptographicAlgorithm } = await import('../../src/ttlv/generated/enumerations.ts');
    const { buildResponseMessage } = await import('../../src/kmip/message.ts');
    const { byteString, enumeration, integer, structure, textString } = await import('../../src/kmip/items.ts');

    const ENUM = 0x05;
    const BYTES = 0x08;
    const uid = '00000000-0000-4000-8000-000000000000';
    const respond = (operation: number, payload: ReturnType<typeof structure>) =>
      encode(buildResponseMessage({ protocolVersion: launch.version, timeStamp: new Date() }, [{ operation, resultStatus: ResultStatus.Success, payload }]));
    const placeholder = (n: number) => Buffer.alloc(n, 0xee);
    // Canned answers, encoded once. Encrypt carries placeholders for ciphertext, IV and tag.
    const encryptAnswer = respond(Operation.Encrypt, structure(Tag.ResponsePayload, [
      textString(Tag.UniqueIdentifier, uid), byteString(Tag.Data, placeholder(64)),
      byteString(Tag.IVCounterNonce, placeholder(12)), byteString(Tag.AuthenticatedEncryptionTag, placeholder(16)),
    ]));
    // One key for everything: Get returns it and Encrypt uses it, so the benchmark's local
    // decryption check (Get, then decrypt one Encrypt answer) holds for this server too.
    const keyMaterial = randomFillSync(Buffer.alloc(32));
    const getAnswer = respond(Operation.Get, structure(Tag.ResponsePayload, [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey), textString(Tag.UniqueIdentifier, uid),
      structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
        enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
        structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, keyMaterial)]),
        enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 256),
      ])]),
    ]));
    const createAnswer = respond(Operation.Create, structure(Tag.ResponsePayload, [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey), textString(Tag.UniqueIdentifier, uid),
    ]));
    const answers = new Map<number, Buffer>([[Operation.Encrypt, encryptAnswer], [Operation.Get, getAnswer], [Operation.Create, createAnswer]]);
    const dataOff = valueAt(encryptAnswer, header(Tag.Data, BYTES, 64));
    const ivOff = valueAt(encryptAnswer, header(Tag.IVCounterNonce, BYTES, 12));
    const tagOff = valueAt(encryptAnswer, header(Tag.AuthenticatedEncryptionTag, BYTES, 16));
    if (dataOff < 0 || ivOff < 0 || tagOff < 0) throw new Error('canned Encrypt answer lacks its placeholders');
    const opHeader = header(Tag.Operation, ENUM, 4);
    const dataHeader = header(Tag.Data, BYTES, 64);

    const key = keyMaterial;
    const zeros = Buffer.alloc(64);
    /** The per-request work of the ceiling: AES-256-GCM of 64 bytes under a fresh random IV. */
    const answer = (frame: Buffer): Buffer => {
      const op = valueAt(frame, opHeader);
      const canned = op < 0 ? undefined : answers.get(frame.readUInt32BE(op));
      const d = valueAt(frame, dataHeader);
      const plain = d < 0 ? zeros : frame.subarray(d, d + 64);
      const out = Buffer.from(canned ?? encryptAnswer);
      const iv = out.subarray(ivOff, ivOff + 12);
      if (canned === encryptAnswer || canned === undefined) {
        randomFillSync(iv);
        const c = createCipheriv('aes-256-gcm', key, iv);
        c.update(plain).copy(out, dataOff);
        c.final();
        c.getAuthTag().copy(out, tagOff);
      } else {
        // Same work for Get and Create, result discarded: the ceiling's cost per request is one GCM.
        const c = createCipheriv('aes-256-gcm', key, randomFillSync(Buffer.allocUnsafe(12)));
        c.update(plain);
        c.final();
        c.getAuthTag();
      }
      return out;
    };

    const server = createServer({
      ca: readFileSync(launch.pki.caCert), cert: readFileSync(launch.pki.serverCert), key: readFileSync(launch.pki.serverKey),
      minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: true,
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      socket.setNoDelay(true);
      let pending: Buffer | undefined;
      socket.on('data', (chunk: Buffer) => {
        let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
        pending = undefined;
        while (buf.length >= 8) {
          const len = 8 + buf.readUInt32BE(4);
          if (buf.length < len) break;
          socket.write(answer(buf.subarray(0, len)));
          buf = buf.subarray(len);
        }
        if (buf.length > 0) pending = Buffer.from(buf);
      });
      socket.on('error', () => socket.destroy());
    });
    server.on('tlsClientError', (_e, s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const stop = () => { server.close(); process.exit(0); };
    process.on('SIGTERM', stop);
    process.on('disconnect', stop);
    send({ type: 'ready', port: (server.address() as { port: number }).port });
  } catch (e) {
    send({ type: 'error', message: (e as Error).stack ?? String(e) });
    process.exit(1);
  }
}

if (process.argv[2] === '--child' && process.argv[1] === SELF) {
  await childMain(JSON.parse(process.argv[3]!) as BareLoopLaunch);
}
