// Named defaults of every setting (DESIGN.md §6.3): each says what it protects or why it
// has this value. The transport reads its limits from here when a setting is not given.
import { DEFAULT_MAX_MESSAGE_SIZE } from '../ttlv/limits.ts';

/** IANA-registered KMIP port (KMIP 2.1 s.10.3; the profiles' TLS transport). */
export const DEFAULT_PORT = 5696;
/** Loopback only: a development server must not be reachable from the network by accident. */
export const DEFAULT_HOST = '127.0.0.1';
/** The admin API's port (src/server/admin.ts): next to KMIP's, on loopback by default like it. */
export const DEFAULT_ADMIN_PORT = 5697;
export const DEFAULT_DATA_DIR = 'data';
/**
 * Changes a CMK keeps for its cores' streams (issue 10; the same figure as the governance
 * store's DEFAULT_CHANGE_RETENTION — config is a leaf and may not import it). Bounds the log's
 * size; a core away for longer reloads the snapshot (410 Gone).
 */
export const DEFAULT_CMK_CHANGE_RETENTION = 50_000;
export const DEFAULT_CERTS_DIR = 'certs';

/** Largest request accepted, header included; bigger frames are refused before buffering (memory exhaustion). */
export const DEFAULT_MAX_MESSAGE_BYTES = DEFAULT_MAX_MESSAGE_SIZE;
/** A connection silent this long is closed (idle sockets pin file descriptors and memory). */
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;
/**
 * A TLS handshake not finished this long after accept is dropped, however many bytes
 * trickle in meanwhile (slowloris on the handshake; a half-open connection that never
 * sends its ClientHello). A deadline from accept, not an inactivity timer: one byte per
 * second would keep an inactivity timer from ever firing.
 */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Concurrent connections, pre-authentication ones included (descriptor and memory exhaustion). */
export const DEFAULT_MAX_CONNECTIONS = 1024;
/**
 * Connections accepted whose TLS handshake has not completed (issue 16 §4). A quarter of
 * maxConnections: clients without a certificate can never hold more than this, and when
 * the server is full the oldest of them are evicted first, so authenticated clients are
 * always served (pre-authentication exhaustion: TCP connections that never handshake).
 * When limits.maxConnections is set lower and this is not set, it is maxConnections.
 */
export const DEFAULT_MAX_PRE_AUTH_CONNECTIONS = 256;
/**
 * Pre-authentication connections of one source address (IPv6: one /64). One host cannot
 * fill the pre-auth budget and so evict other clients' handshakes; over it, a new
 * connection from that source is refused at accept. Never more than maxPreAuthConnections.
 */
export const DEFAULT_MAX_PRE_AUTH_PER_SOURCE = 32;
/**
 * A message whose first byte has arrived must be complete (header and body) within this
 * time, or the connection is closed (slowloris on the message: one byte per second keeps
 * the idle timeout from firing forever). At 30 s a 1 MiB message needs ~35 KB/s.
 */
export const DEFAULT_MESSAGE_TIMEOUT_MS = 30_000;
/**
 * Batch items in one request message (KMIP 2.1 s.9.3 sets no maximum; each item is an
 * operation run and an audit record). 10 000 Creates in one 1 MiB message would be 10 000
 * key generations and audit records for one read; a larger batch is answered Invalid
 * Message naming this limit, and the connection lives.
 */
export const DEFAULT_MAX_BATCH_ITEMS = 1024;
/**
 * Requests read ahead on one connection while earlier ones run. Pipelined requests are
 * answered strictly in order; past this many, reading pauses (a client that pipelines
 * without reading answers cannot make the server queue without bound).
 */
export const DEFAULT_MAX_PIPELINE_DEPTH = 32;
/**
 * Interval of the periodic L1 status check (issue 16 §3). It bounds how long a tenant whose
 * root key was revoked or disabled in the customer's own HSM/KMS console stays served: at
 * worst this interval plus one L1 status call (README "Key hierarchy").
 */
export const DEFAULT_L1_STATUS_CHECK_INTERVAL_MS = 30_000;
/** Below one second the check would keep the HSM/KMS busy (and a cloud KMS bills per call). */
export const MIN_L1_STATUS_CHECK_INTERVAL_MS = 1_000;
/** A day: a longer interval is a typo, not a policy. */
export const MAX_L1_STATUS_CHECK_INTERVAL_MS = 86_400_000;
