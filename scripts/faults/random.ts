/**
 * Seeded randomness for the fault run, so a run's choices of targets and delays can be
 * repeated with `--seed`. Timing between processes still varies from run to run.
 */

export class SeededRandom {
  #state: number;

  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** Return a number in [0, 1), from the mulberry32 generator (32-bit state). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Return a whole number from `min` to `max`, both included. */
  integer(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('cannot pick from an empty list');
    return items[this.integer(0, items.length - 1)]!;
  }
}

/** Return a seed for runs started without `--seed`. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
