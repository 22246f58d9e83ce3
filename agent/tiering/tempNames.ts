/**
 * Names of the agent's temporary files beside a file it stubs or recalls. They are
 * derived from the file's name, so a rerun after a crash writes over, and so removes,
 * what the killed run left, and they stay short whatever the length of the original name.
 */
import { createHash } from 'node:crypto';

const TEMP_PREFIX = '.strata-';
const TEMP_NAME = /^\.strata-(stub|recall)-[0-9a-f]{16}\.tmp$/;

export type TempPurpose = 'stub' | 'recall';

/** Returns the temporary name for `purpose` beside the file whose name has bytes `nameBytes`. */
export function tempNameFor(purpose: TempPurpose, nameBytes: Uint8Array): string {
  const digest = createHash('sha256').update(nameBytes).digest('hex').slice(0, 16);
  return `${TEMP_PREFIX}${purpose}-${digest}.tmp`;
}

/** Returns whether a listed name is one of the agent's temporary files. */
export function isAgentTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) && TEMP_NAME.test(name);
}
