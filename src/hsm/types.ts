/**
 * An L1 provider: the customer's root key, held outside OpenKCM (DESIGN.md §2). We only
 * ask it to wrap and unwrap; the key never enters our memory.
 */
export type L1Status =
  | { state: 'active' }
  | { state: 'disabled' | 'revoked' | 'unreachable'; detail: string };

export interface L1Description {
  provider: 'software' | 'pkcs11' | 'aws-kms' | 'kmip' | 'vault-transit' | 'azure-keyvault' | 'gcp-kms';
  keyRef: string;
  /** Shown in Query server information and at start; true for the development provider. */
  developmentOnly: boolean;
}

export interface L1Provider {
  /** `context` is bound into the wrapping (AAD / encryption context); unwrap needs the same context. */
  wrap(plaintext: Buffer, context: string): Promise<Buffer>;
  unwrap(blob: Buffer, context: string): Promise<Buffer>;
  status(): Promise<L1Status>;
  describe(): L1Description;
  close(): Promise<void>;
}
