// Named decoder limits (DESIGN.md §6.3). Each one states the attack it stops.

/**
 * Largest message the framer accepts, header included. A peer that claims a 2 GiB frame
 * is refused as soon as the 8-byte header arrives, before a single byte of the body is
 * buffered (memory exhaustion by length claim).
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024;

/**
 * Deepest Structure nesting the decoder follows. Real KMIP messages nest about 10 deep;
 * the limit stops stack exhaustion by a message made of nested empty structures.
 */
export const MAX_DEPTH = 64;

/**
 * Largest Big Integer value in bytes. RSA-16384 moduli are 2 KiB; the limit stops a
 * megabyte-long Big Integer from costing quadratic time in BigInt conversion.
 */
export const MAX_BIG_INTEGER_BYTES = 4096;

/**
 * Most items one message may hold. A 1 MiB message of empty structures is 131 072 items;
 * the limit bounds the object count (and the GC work) a single message can cause.
 */
export const MAX_ITEMS = 1 << 18;
