/**
 * Named steps of tiering and recall at which fault tests kill the agent. A test sets
 * STRATA_AGENT_FAULT_AT to a step name, and optionally STRATA_AGENT_FAULT_SKIP to the
 * number of times that step is passed first. The agent then sends itself SIGKILL there,
 * as `kill -9` would. Unset, the hook costs one comparison.
 */

/** Steps, in the order one file passes them. */
export const FAULT_STEPS = [
  /**
   * Tiering: the file was read and its copy begun. A file over 8 MiB has part of its
   * bytes in Tier-2, and a smaller one is about to be written from memory.
   */
  'tier.copying',
  /** Tiering: the Tier-2 copy is stored and verified, the original untouched. */
  'tier.verified',
  /**
   * Tiering: the stub is written over the start of the file, which is not yet cut to the
   * stub's size. A file stubbed by rename instead has its stub written and flushed under
   * the temporary name.
   */
  'tier.stub-written',
  /** Tiering: the stub replaced the original; the result is not yet reported. */
  'tier.stubbed',
  /** Recall: part of the object's bytes went into the temporary file. */
  'recall.copying',
  /** Recall: the original content replaced the stub; the result is not yet reported. */
  'recall.restored',
] as const;

export type FaultStep = (typeof FAULT_STEPS)[number];

const configuredStep = process.env.STRATA_AGENT_FAULT_AT;
let passesLeft = Number(process.env.STRATA_AGENT_FAULT_SKIP ?? '0');

if (configuredStep !== undefined && !(FAULT_STEPS as readonly string[]).includes(configuredStep)) {
  throw new Error(`Invalid STRATA_AGENT_FAULT_AT ${JSON.stringify(configuredStep)}: expected one of ${FAULT_STEPS.join(', ')}`);
}

/** Kills the process with SIGKILL when the fault test asked for this step. */
export function faultPoint(step: FaultStep): void {
  if (configuredStep !== step) {
    return;
  }
  if (passesLeft > 0) {
    passesLeft--;
    return;
  }
  process.kill(process.pid, 'SIGKILL');
}
