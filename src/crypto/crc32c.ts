// CRC-32C (Castagnoli), the checksum Google Cloud KMS uses for end-to-end integrity of
// Encrypt/Decrypt payloads (Cloud KMS docs, "Verifying end-to-end data integrity"). Node 20
// has no CRC-32C (zlib.crc32 is the IEEE polynomial, and only from Node 22), and the
// payloads are a few hundred bytes, so a table-driven loop is enough.
//
// Parameters (RFC 3720 §B.4, iSCSI): reflected polynomial 0x82F63B78, initial value and
// final XOR 0xFFFFFFFF. Check value: crc32c("123456789") = 0xE3069283.

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C of `data`, as an unsigned 32-bit integer. */
export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
