// Latency histogram for the load generators (bench/server.ts, bench/crypto.ts).
//
// Log-linear buckets in the manner of HdrHistogram: each power of two of microseconds is
// cut into SUB_BUCKETS equal slices, so a recorded value is kept within 1/SUB_BUCKETS
// (< 1 %) of its true value whatever its magnitude, in a fixed amount of memory. A
// five-second cell at tens of thousands of requests per second would otherwise keep
// hundreds of thousands of samples per connection; with buckets, the per-connection
// histograms are merged at the end and memory stays constant.

/** Slices per power of two: 128 → every value is recorded within 0.8 %. */
export const SUB_BUCKETS = 128;
const SUB_BITS = 7; // log2(SUB_BUCKETS)
/** Values below one microsecond are recorded as exactly representable (slices of 1/SUB_BUCKETS µs would be noise). */
const UNIT_SCALE = SUB_BUCKETS; // recorded unit = 1/128 µs
/** Largest value kept: 2^40 units ≈ 8.6e9 µs (2.4 hours); larger values saturate to it. */
const MAX_EXPONENT = 40;
const BUCKET_COUNT = (MAX_EXPONENT - SUB_BITS + 2) * SUB_BUCKETS;

function indexOf(units: number): number {
  if (units < SUB_BUCKETS) return units; // exact region: one slot per unit
  const exp = Math.min(Math.floor(Math.log2(units)), MAX_EXPONENT);
  const shift = exp - SUB_BITS;
  const sub = Math.min(Math.floor(units / 2 ** shift), 2 * SUB_BUCKETS - 1) - SUB_BUCKETS;
  return (shift + 1) * SUB_BUCKETS + sub;
}

/** Middle of a bucket, in units (so a reported percentile sits at most half a slice away). */
function valueOf(index: number): number {
  if (index < SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const sub = index % SUB_BUCKETS;
  const low = (SUB_BUCKETS + sub) * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKET_COUNT);
  private n = 0;
  private sumUs = 0;
  private minUs = Infinity;
  private maxUs = 0;

  /** Records one latency in microseconds. Negative or non-finite values are a caller bug. */
  record(us: number): void {
    if (!Number.isFinite(us) || us < 0) throw new RangeError(`latency must be a finite non-negative number of µs, got ${us}`);
    const units = Math.round(us * UNIT_SCALE);
    this.counts[indexOf(units)]! += 1;
    this.n += 1;
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
  }

  get count(): number { return this.n; }
  get meanUs(): number { return this.n === 0 ? NaN : this.sumUs / this.n; }
  get minimumUs(): number { return this.n === 0 ? NaN : this.minUs; }
  get maximumUs(): number { return this.n === 0 ? NaN : this.maxUs; }

  /**
   * The p-th percentile (0 < p ≤ 100) in microseconds, nearest-rank definition: the
   * smallest recorded value with at least p % of the samples at or below it. NaN when
   * nothing was recorded. Clamped to the exact minimum and maximum seen.
   */
  percentile(p: number): number {
    if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
    if (this.n === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.n);
    // The top rank is the largest sample, known exactly (and the only way to report a
    // value past the saturation bucket faithfully).
    if (rank >= this.n) return this.maxUs;
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const v = valueOf(i) / UNIT_SCALE;
        return Math.min(Math.max(v, this.minUs), this.maxUs);
      }
    }
    return this.maxUs;
  }

  /** Adds another histogram's samples to this one (per-connection histograms → one per cell). */
  merge(other: LatencyHistogram): this {
    for (let i = 0; i < BUCKET_COUNT; i++) this.counts[i]! += other.counts[i]!;
    this.n += other.n;
    this.sumUs += other.sumUs;
    if (other.minUs < this.minUs) this.minUs = other.minUs;
    if (other.maxUs > this.maxUs) this.maxUs = other.maxUs;
    return this;
  }
}

/** Exact nearest-rank percentile of raw samples (for small sample sets and to check the histogram). */
export function exactPercentile(samples: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
}
