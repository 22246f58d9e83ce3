/** Opening the Tier-2 store that `GET /v1/shares/{share}/target` describes. */
import { openTier2Store } from '../../src/tier2/openTier2Store.ts';
import type { TargetConfig } from '../../src/tier2/targetConfig.ts';
import { TIER2_KINDS, type Tier2Store } from '../../src/tier2/tier2Store.ts';

/** The target response is not a Tier-2 target this agent supports. */
export class TargetFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetFormatError';
  }
}

/**
 * Opens the store of a target response: a target configuration, or an object with one
 * under `target`. The store checks its own settings on first use. Throws
 * TargetFormatError for a response without a known kind; its message never shows the
 * response, which carries credentials.
 */
export function openTargetStore(response: unknown): Tier2Store {
  const config = unwrap(response);
  if (config === undefined) {
    const kind = (response as { kind?: unknown } | null)?.kind;
    const described = typeof kind === 'string' ? `of kind ${JSON.stringify(kind)}` : 'without a kind';
    throw new TargetFormatError(`Unsupported Tier-2 target ${described}: expected one of ${TIER2_KINDS.join(', ')}. Update the agent.`);
  }
  return openTier2Store(config);
}

function unwrap(response: unknown): TargetConfig | undefined {
  for (const candidate of [response, (response as { target?: unknown } | null)?.target]) {
    const kind = (candidate as { kind?: unknown } | null | undefined)?.kind;
    if ((TIER2_KINDS as readonly unknown[]).includes(kind)) {
      return candidate as TargetConfig;
    }
  }
  return undefined;
}
