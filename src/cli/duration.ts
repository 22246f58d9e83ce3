const UNIT_SECONDS: Record<string, number> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 7 * 86_400,
  y: 365 * 86_400,
};

/**
 * Parse a duration such as `365d`, `12h` or `2y` into seconds. Units: s, m (minutes),
 * h, d, w, y (365 days). Returns undefined for anything else.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)([smhdwy])$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNIT_SECONDS[match[2]!]!;
}

/** Maximum age threshold the planner accepts: 200 years, older than any file system. */
export const MAX_AGE_SECONDS = 200 * UNIT_SECONDS.y!;
