/**
 * A small seeded generator for tests: the same seed gives the same points on every machine
 * (Math.random cannot be seeded). mulberry32 for the uniforms, Box-Muller for the normals.
 */
import { mulberry32 } from '../../src/birch/random.js';

export class Rng {
  private readonly u: () => number;
  private spare = Number.NaN;

  constructor(seed: number) {
    this.u = mulberry32(seed);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal. */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = Number.NaN;
      return v;
    }
    // 1 - next() is in (0, 1], so the log is finite
    const r = Math.sqrt(-2 * Math.log(1 - this.next()));
    const a = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }

  /** A vector of `dim` standard normals. */
  gaussian(dim: number): Float64Array {
    const v = new Float64Array(dim);
    for (let i = 0; i < dim; i++) v[i] = this.normal();
    return v;
  }

  /** A uniformly random direction on the unit sphere (a normalised Gaussian). */
  unitVector(dim: number): Float64Array {
    for (;;) {
      const v = this.gaussian(dim);
      const n = Math.hypot(...v);
      if (n > 1e-12) {
        for (let i = 0; i < dim; i++) v[i] /= n;
        return v;
      }
    }
  }

  /** Picks one element of a non-empty array. */
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}
