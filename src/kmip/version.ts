/** A KMIP protocol version (s.9.16). */
export interface ProtocolVersion {
  readonly major: number;
  readonly minor: number;
}

/** Every version the server speaks, in its own order of preference (newest first), for Discover Versions. */
export const SUPPORTED_VERSIONS: readonly ProtocolVersion[] = [
  { major: 2, minor: 1 }, { major: 2, minor: 0 },
  { major: 1, minor: 4 }, { major: 1, minor: 3 }, { major: 1, minor: 2 }, { major: 1, minor: 1 }, { major: 1, minor: 0 },
];

export const isSupportedVersion = (v: ProtocolVersion) => SUPPORTED_VERSIONS.some((s) => s.major === v.major && s.minor === v.minor);
export const is1x = (v: ProtocolVersion) => v.major === 1;
export const versionString = (v: ProtocolVersion) => `${v.major}.${v.minor}`;

/**
 * Compares a version with a `since`/`removed` marker of the spec data ("1.2", "2.0").
 * Returns true when `v` is at least `marker`.
 */
export function atLeast(v: ProtocolVersion, marker: string): boolean {
  const m = parsedMarker(marker);
  return v.major > m.major || (v.major === m.major && v.minor >= m.minor);
}

/**
 * Markers parsed once: the version filter asks several per item of every response
 * (issue 12: splitting the string each time was 1.6 % of the CPU of a Get, plus its
 * garbage). The markers are the spec data's own strings, a few dozen at most.
 */
const MARKERS = new Map<string, ProtocolVersion>();
function parsedMarker(marker: string): ProtocolVersion {
  let m = MARKERS.get(marker);
  if (m === undefined) {
    const [maj, min] = marker.split('.').map((x) => parseInt(x, 10)) as [number, number];
    m = { major: maj, minor: min };
    MARKERS.set(marker, m);
  }
  return m;
}
