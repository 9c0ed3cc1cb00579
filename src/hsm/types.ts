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
  /**
   * Optional: the blob wrapped under `context` is gone (the hierarchy replaced it, e.g. the
   * old L2 after an L2 rotation). A provider whose status() watches the key versions its
   * blobs use (gcp-kms) stops watching the one of that blob, so a customer may retire it.
   */
  forgetContext?(context: string): void;
  describe(): L1Description;
  close(): Promise<void>;
}
