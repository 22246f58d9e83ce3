/** Opening the Tier-2 store that `GET /v1/shares/{share}/target` describes. */
import type { Tier2Store } from '../../src/tier2/tier2Store.ts';

/** The target response is not a Tier-2 target this agent supports. */
export class TargetFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetFormatError';
  }
}

/** Opens the store of a target response. Throws TargetFormatError for an unknown shape. */
export function openTargetStore(target: unknown): Tier2Store {
  // TODO: replace with openTier2Store once the Tier-2 stores are merged.
  throw new TargetFormatError(`Unsupported Tier-2 target ${describeKind(target)}`);
}

function describeKind(target: unknown): string {
  const kind = (target as { kind?: unknown } | null)?.kind;
  return typeof kind === 'string' ? `of kind ${JSON.stringify(kind)}` : 'without a kind';
}
