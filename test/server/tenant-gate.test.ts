// A sealed tenant is refused at the door (DESIGN.md §2): every operation, including those
// that never open a key value (Locate, Get Attributes), answers PermissionDenied saying the
// tenant is sealed, while the key hierarchy is the real runtime's (openRuntime).
import { afterEach, describe, expect, it } from 'vitest';
import { openRuntime, type Runtime } from '../../src/server/runtime.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';
import { structure, enumeration, integer, textString } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, ObjectType, Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { IDENTITY, request } from './helpers.ts';

const V21 = { major: 2, minor: 1 };
let rt: Runtime | undefined;
afterEach(async () => { await rt?.close(); rt = undefined; });

async function send(items: Parameters<typeof request>[1], version = V21) {
  return parseResponseMessage(await rt!.engine.handleMessage(request(version, items), IDENTITY));
}

const createAes = {
  operation: Operation.Create,
  payload: structure(Tag.RequestPayload, [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 256),
    ]),
  ]),
};
const locateAll = { operation: Operation.Locate, payload: structure(Tag.RequestPayload, [structure(Tag.Attributes, [])]) };

describe('tenant gate', () => {
  it('refuses Locate and Get Attributes of a sealed tenant, and serves again after unseal', async () => {
    rt = await openRuntime({});
    const created = await send([createAes]);
    expect(created.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    expect((await send([locateAll])).batchItems[0]!.resultStatus).toBe(ResultStatus.Success);

    rt.hierarchy.engine.seal('default', 'operator seal in a test');
    for (const item of [locateAll, { operation: Operation.GetAttributes, payload: structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, 'x')]) }, createAes]) {
      const r = (await send([item])).batchItems[0]!;
      expect(r.resultStatus).toBe(ResultStatus.OperationFailed);
      expect(r.resultReason).toBe(ResultReason.PermissionDenied);
      expect(r.resultMessage).toMatch(/tenant default is sealed/);
    }
    // 1.x clients get the same refusal in their version.
    const v1 = (await send([locateAll], { major: 1, minor: 2 })).batchItems[0]!;
    expect(v1.resultReason).toBe(ResultReason.PermissionDenied);

    expect((await rt.hierarchy.engine.unsealTenant('default')).sealed).toBe(false);
    const again = (await send([locateAll])).batchItems[0]!;
    expect(again.resultStatus).toBe(ResultStatus.Success);
  });

  it('the kill switch refuses the very next request', async () => {
    rt = await openRuntime({});
    expect((await send([createAes])).batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    await rt.hierarchy.engine.killSwitch('default');
    const r = (await send([locateAll])).batchItems[0]!;
    expect(r.resultReason).toBe(ResultReason.PermissionDenied);
    expect(r.resultMessage).toMatch(/sealed/);
  });
});
