// The production runtime (real registry, adapters, SQLite store, software L1, interim
// protector) driven through the engine; and the rule that logs never carry key material.
import { describe, it, expect } from 'vitest';
import { encode } from '../../src/ttlv/encode.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultStatus, ObjectType, CryptographicAlgorithm, CryptographicUsageMask, BatchErrorContinuationOption } from '../../src/ttlv/generated/enumerations.ts';
import { structure, integer, enumeration, textString, child, type Struct } from '../../src/kmip/items.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';
import { SUPPORTED_VERSIONS } from '../../src/kmip/version.ts';
import { OPERATIONS } from '../../src/operations/registry.ts';
import type { OperationHandler } from '../../src/operations/types.ts';
import { openRuntime } from '../../src/server/runtime.ts';
import { IDENTITY, request, captureLogger } from './helpers.ts';
import { aes256KeyItems } from './audit-payloads.ts';

describe('runtime', () => {
  it('opens in memory, answers DiscoverVersions in every version 1.0–2.1 in that version, and closes', async () => {
    const rt = await openRuntime();
    try {
      for (const v of SUPPORTED_VERSIONS) {
        const out = parseResponseMessage(decode(await rt.engine.handleBytes(encode(request(v, [{ operation: Operation.DiscoverVersions }])), IDENTITY)));
        expect(out.header.protocolVersion).toEqual(v);
        expect(out.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
        expect(out.batchItems[0]!.payload!.value.length).toBeGreaterThan(0);
      }
      expect(rt.server.l1.developmentOnly).toBe(true);
    } finally {
      await rt.close();
    }
  });
});

/** Register and Get from the registry, or from their modules while the registry does not list them yet. */
async function withRegisterAndGet(): Promise<Map<number, OperationHandler>> {
  const ops = new Map(OPERATIONS);
  if (!ops.has(Operation.Register)) ops.set(Operation.Register, (await import('../../src/operations/register.ts')).register);
  if (!ops.has(Operation.Get)) ops.set(Operation.Get, (await import('../../src/operations/get.ts')).get);
  return ops;
}

describe('logging never shows key material', () => {
  const KEY = Buffer.from('8f1e6a5c3b2d4e7f90a1b2c3d4e5f60718293a4b5c6d7e8f9011223344556677', 'hex');

  function registerPayload21(): Struct {
    return structure(Tag.RequestPayload, aes256KeyItems(KEY));
  }

  it('Register of a known key then Get: the bytes appear in the response but in no log line', async () => {
    const { logger, lines } = captureLogger();
    const rt = await openRuntime({ logger, operations: await withRegisterAndGet() });
    try {
      const v = { major: 2, minor: 1 };
      const reg = parseResponseMessage(decode(await rt.engine.handleBytes(encode(request(v, [{ operation: Operation.Register, payload: registerPayload21() }])), IDENTITY)));
      expect(reg.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
      const uid = child(reg.batchItems[0]!.payload!, Tag.UniqueIdentifier)!.value as string;
      const getBytes = await rt.engine.handleBytes(encode(request(v, [{ operation: Operation.Get, payload: structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]) }])), IDENTITY);
      expect(getBytes.includes(KEY)).toBe(true); // the key really went through the engine
      // Something that logs a payload by mistake is redacted too.
      logger.info({ payload: registerPayload21(), keyMaterial: KEY, nested: { KeyMaterial: KEY } }, 'careless line');

      const all = lines.join('\n');
      expect(lines.filter((l) => l.includes('"event":"batch_item"')).length).toBe(2);
      expect(all).toContain(uid);
      for (const form of [KEY.toString('hex'), KEY.toString('hex').toUpperCase(), KEY.toString('base64'), KEY.toString('base64url'), [...KEY].join(','), KEY.subarray(0, 8).toString('hex')]) {
        expect(all).not.toContain(form);
      }
      expect(all).toContain('[redacted]');
    } finally {
      await rt.close();
    }
  });
});

describe('batch semantics against the real store and operations', () => {
  const createPayload = () => structure(Tag.RequestPayload, [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 256),
      integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
    ]),
  ]);
  const uidPayload = (uid: string) => structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]);

  it('Undo (BL-M-2-21 shape): Activate and Create are rolled back when a later item fails', async () => {
    const rt = await openRuntime();
    try {
      const v = { major: 2, minor: 1 };
      const send = async (items: Parameters<typeof request>[1], header: Parameters<typeof request>[2] = {}) =>
        parseResponseMessage(decode(await rt.engine.handleBytes(encode(request(v, items, header)), IDENTITY)));
      const created = await send([{ operation: Operation.Create, payload: createPayload() }]);
      expect(created.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
      const uid = child(created.batchItems[0]!.payload!, Tag.UniqueIdentifier)!.value as string;

      const undone = await send([
        { operation: Operation.Activate, payload: uidPayload(uid), uniqueBatchItemId: Buffer.from('01', 'hex') },
        { operation: Operation.Create, payload: createPayload(), uniqueBatchItemId: Buffer.from('02', 'hex') },
        { operation: Operation.Activate, payload: uidPayload('no-such-object'), uniqueBatchItemId: Buffer.from('03', 'hex') },
      ], { batchErrorContinuationOption: BatchErrorContinuationOption.Undo });
      expect(undone.batchItems.map((b) => b.resultStatus)).toEqual([ResultStatus.OperationUndone, ResultStatus.OperationUndone, ResultStatus.OperationFailed]);
      const second = child(undone.batchItems[1]!.payload!, Tag.UniqueIdentifier)!.value as string;

      // The first key is Pre-Active again (Activate twice would otherwise fail), the second is gone.
      const again = await send([{ operation: Operation.Activate, payload: uidPayload(uid) }]);
      expect(again.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
      expect(await rt.store.get('default', second)).toBeUndefined();
    } finally {
      await rt.close();
    }
  });
});
