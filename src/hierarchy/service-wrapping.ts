// The services' L3 keys as wrapping objects for gateways (issue 11; the KMIP side is
// src/operations/common/service-l3.ts). A gateway's data key is wrapped exactly like an object
// value (keyring.ts L4 blob: L3 version in the header, AES-256-GCM), at a place of its own:
// the "uid" field of the associated data is "gateway:" + the context in base64. Object UIDs
// are server-made UUIDs, so a gateway blob and an object value can never stand for each
// other; tenant and service are in the associated data, so a blob of another tenant or
// service does not open.
import type { HierarchyEngine } from './engine.ts';
import type { ObjectPlace } from './types.ts';

/** Same shape as operations/types.ts ServiceKeyWrapping (hierarchy sits below operations, DESIGN.md §5). */
export interface ServiceKeyWrapper {
  wrap(tenant: string, service: string, context: Buffer, plaintext: Buffer): Promise<Buffer>;
  wrapMany(tenant: string, service: string, context: Buffer, plaintexts: readonly Buffer[]): Promise<Buffer[]>;
  unwrap(tenant: string, service: string, context: Buffer, blob: Buffer): Promise<Buffer>;
}

export function gatewayPlace(tenant: string, service: string, context: Buffer): ObjectPlace {
  return { tenant, service, uid: `gateway:${context.toString('base64')}` };
}

export function serviceKeyWrapper(engine: HierarchyEngine): ServiceKeyWrapper {
  return {
    wrap: (tenant, service, context, plaintext) => engine.wrap(gatewayPlace(tenant, service, context), plaintext),
    wrapMany: (tenant, service, context, plaintexts) => engine.wrapMany(gatewayPlace(tenant, service, context), plaintexts),
    // No lazy re-wrap: nothing is stored at this place; the gateway asks for /rewrap explicitly.
    unwrap: (tenant, service, context, blob) => engine.unwrap(gatewayPlace(tenant, service, context), blob, { rewrap: false }),
  };
}
