import type { Logger } from 'pino';
import type { ManagedObject } from '../kmip/object.ts';
import type { Struct } from '../kmip/items.ts';
import type { ProtocolVersion } from '../kmip/version.ts';
import type { LocatePrefilter, UpdateOptions } from '../store/types.ts';
import type { L1Description } from '../hsm/types.ts';

/** Who is calling: from the client certificate (subject, SANs, fingerprint) and, later, CMK's mapping. */
export interface ClientIdentity {
  subject: string;
  sans: string[];
  /** SHA-256 of the DER certificate, lowercase hex. */
  fingerprint: string;
  tenant: string;
  service: string;
  /** Certificate serial number (hex), when the TLS layer has it: identities bound to one certificate match on it. */
  serial?: string;
  /** The governance identity the certificate resolved to (src/store/governance.ts), once authenticated. */
  identityId?: string;
  /** Its role name. */
  role?: string;
  /**
   * Role gateway: every service it may act for (its own first; issue 11 §1). `service` is the
   * one this message acts for; the service wrapping objects admit any of these.
   */
  services?: string[];
}

/**
 * Per-request state shared by the batch items of one message (s.6.1 intro, s.11.58).
 * Created by the batch executor, read and written by operations.
 */
export interface BatchState {
  /** The ID Placeholder. */
  idPlaceholder: string | undefined;
  /** UIDs produced by the most recent operation of each kind (key: UniqueIdentifier enumeration value, s.11.58). */
  lastByOperation: Map<number, string[]>;
  /** Unique Identifiers returned by each earlier batch item of this request, in order (2.x Integer references). */
  responseUids: string[][];
  /** Index of the batch item being executed. */
  itemIndex: number;
}

/**
 * Tenant-scoped access to managed objects, with values unwrapped/wrapped by the key
 * hierarchy. Objects of other tenants do not exist here.
 */
export interface ObjectRepository {
  create(obj: Omit<ManagedObject, 'tenant' | 'service' | 'revision'>): Promise<ManagedObject>;
  /** undefined when missing or not visible to this identity. */
  load(uid: string): Promise<ManagedObject | undefined>;
  /** Persists changes; retries are the caller's business on StoreConflictError. */
  save(obj: ManagedObject, opts?: UpdateOptions): Promise<void>;
  /** Metadata only (value not unwrapped), newest first. */
  scan(filter: LocatePrefilter): AsyncIterable<Omit<ManagedObject, 'value'>>;
}

export interface ServerInfo {
  vendor: string;
  product: string;
  version: string;
  l1: L1Description;
}

/**
 * The services' L3 keys as non-extractable wrapping objects (issue 11 §1): a gateway sends
 * its L4 data keys here to be wrapped and unwrapped; the L3 itself never leaves the Core.
 * Provided by the server from the hierarchy engine; absent in engines without a hierarchy.
 */
export interface ServiceKeyWrapping {
  /** AES-256-GCM under the service's current L3; the blob names its L3 version. */
  wrap(tenant: string, service: string, context: Buffer, plaintext: Buffer): Promise<Buffer>;
  /** Several keys of one context, each its own blob (own nonce), under the same L3 version, in order. */
  wrapMany(tenant: string, service: string, context: Buffer, plaintexts: readonly Buffer[]): Promise<Buffer[]>;
  /** Throws a KeyProtectionError when the blob does not open at (tenant, service, context). */
  unwrap(tenant: string, service: string, context: Buffer, blob: Buffer): Promise<Buffer>;
}

/**
 * The tenant's Name policy (issue 13 §5, set in governance): 'unique' (KMIP 2.1 s.4.35, the
 * OASIS BL-M-8 test) refuses a Name another object of the tenant holds; 'duplicates-allowed'
 * lets several objects share one (PyKMIP, Percona's kmipclient).
 */
export type NamePolicy = 'unique' | 'duplicates-allowed';

/**
 * What a Poll or a Cancel learns of an asynchronous operation of the caller (KMIP 2.1
 * §6.1.38, §6.1.5), from src/server/async-operations.ts. An operation of another identity or
 * tenant is 'unknown', exactly as a value never issued.
 */
export type PolledOperation =
  | { state: 'unknown' }
  | { state: 'pending' }
  | { state: 'succeeded'; operation: number; payload: Struct }
  | { state: 'failed'; reason: number; message: string };

/** The caller's asynchronous operations (bound to its identity and tenant). */
export interface AsynchronousOperations {
  poll(correlationValue: Buffer): Promise<PolledOperation>;
  /** A Cancellation Result (KMIP 2.1 §11.5). */
  cancel(correlationValue: Buffer): Promise<number>;
}

export interface OperationContext {
  /** The version the request was written in; payloads are already converted to the 2.1 model. */
  version: ProtocolVersion;
  identity: ClientIdentity;
  /** The caller's tenant's Name policy; absent = 'unique'. */
  names?: NamePolicy;
  objects: ObjectRepository;
  batch: BatchState;
  now(): Date;
  log: Logger;
  server: ServerInfo;
  /** All registered operations (Query reports them). */
  operations: ReadonlyMap<number, OperationHandler>;
  /** The service L3 wrapping objects (src/operations/common/service-l3.ts), when the server has a hierarchy. */
  serviceKeys?: ServiceKeyWrapping;
  /** The caller's asynchronous operations, when the server runs any (Poll, Cancel). */
  asynchronous?: AsynchronousOperations;
}

/**
 * One KMIP operation (DESIGN.md §6.1): one file each under src/operations/, listed in
 * registry.ts. `run` receives the Request Payload in the 2.1 model and returns the
 * Response Payload in the 2.1 model; it throws KmipError for every failure the client
 * should see.
 */
export interface OperationHandler {
  /** Operation enumeration value (s.11.36). */
  readonly operation: number;
  readonly name: string;
  /** First protocol version that defines it. */
  readonly since: string;
  run(ctx: OperationContext, payload: Struct): Promise<Struct>;
}
