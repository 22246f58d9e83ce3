/** Progress lines of the fault run on stderr, each stamped with the seconds since the run began. */

const startedAt = performance.now();

/** Seconds since the run began, with one decimal. */
export function elapsedSeconds(): number {
  return Math.round((performance.now() - startedAt) / 100) / 10;
}

export function logEvent(message: string): void {
  process.stderr.write(`[${elapsedSeconds().toFixed(1).padStart(6)} s] ${message}\n`);
}
