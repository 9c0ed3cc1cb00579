/**
 * Where an object's value is wrapped before it reaches the store. The server issue uses
 * an interim implementation (one data key under the development L1); the hierarchy issue
 * replaces it with L2/L3 per tenant and service. Associated data binds each blob to its
 * place, so a blob copied to another object does not open.
 */
export interface KeyProtector {
  protect(place: ObjectPlace, plaintext: Buffer): Promise<Buffer>;
  unprotect(place: ObjectPlace, blob: Buffer): Promise<Buffer>;
}

export interface ObjectPlace {
  tenant: string;
  service: string;
  uid: string;
}
