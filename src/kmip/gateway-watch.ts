// The wire contract of a gateway's status watch (issue 11 §3), shared by the Core that holds
// the watch (src/server/gateway-watch.ts) and the gateway that sends it
// (src/gateway/core-link.ts). It lives here because the gateway may not import server: one
// definition keeps the two sides from drifting apart.
//
// The watch is a standard Poll (KMIP 2.1 s.6.1.38) whose Asynchronous Correlation Value is
// WATCH_PREFIX followed by the token of the state the gateway last saw; the answer's Data is
// a WatchState as JSON.

/** Correlation value prefix of a watch Poll; the rest is the token of the state last seen (may be empty). */
export const WATCH_PREFIX = 'openkcm:watch:';

/** Longest the Core holds a watch unanswered: a gateway that hears nothing for this long plus its timeout knows the link is dead. */
export const WATCH_HOLD_MS = 20_000;

/** What the Core's status watch answers (Data of the Poll response, JSON). */
export interface WatchState {
  state: 'ok' | 'sealed' | 'refused';
  reason?: string;
  tenant: string;
  services: string[];
  /** Process id of the Core process (worker) holding the watch: diagnostics. */
  node?: number;
}
