/** Building the result of one action as the wire contract wants it. */
import type { ActionOutcome, ActionResult, ClaimedAction } from '../../src/wire/acting.ts';

/** Maximum length of an error text in the contract, in characters. */
export const MAX_ERROR_CHARS = 2000;

export function outcome(
  action: ClaimedAction,
  result: ActionOutcome,
  details: { sha256?: string; sizeBytes?: number; error?: string } = {},
): ActionResult {
  const reported: ActionResult = { id: action.id, fence: action.fence, outcome: result };
  if (details.sha256 !== undefined) {
    reported.sha256 = details.sha256;
  }
  if (details.sizeBytes !== undefined) {
    reported.sizeBytes = details.sizeBytes;
  }
  if (details.error !== undefined) {
    reported.error = details.error.length > MAX_ERROR_CHARS ? `${details.error.slice(0, MAX_ERROR_CHARS - 1)}…` : details.error;
  }
  return reported;
}
