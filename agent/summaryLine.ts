/** The lines the agent's commands print about a scan's outcome. */
import { ApiRequestError } from './apiClient.ts';
import { formatBytes, formatCount, formatQuantity } from './progress.ts';
import { ScanFailedError, type ScanSummary } from './runScan.ts';

export function formatSummaryLine(summary: ScanSummary): string {
  return (
    `Scan ${summary.scanGuid} ${summary.status}: ${formatQuantity(summary.files, 'file')} ` +
    `(${formatBytes(summary.bytes)}) in ${formatQuantity(summary.dirs, 'folder')}, ` +
    `${formatQuantity(summary.chunks, 'chunk')}, ${formatCount(summary.unreadable)} unreadable, ` +
    `${formatCount(summary.skipped)} skipped, ${formatQuantity(summary.escaped, 'escaped name')}, ` +
    `${summary.seconds.toFixed(1)} s` +
    (summary.status === 'FAILED' && summary.scan.error ? ` (${summary.scan.error})` : '')
  );
}

export function describeFailure(error: unknown): string {
  if (error instanceof ScanFailedError) {
    return error.message;
  }
  if (error instanceof Error) {
    // Failures before the scan was opened, such as an unreachable server, carry their
    // own description; anything else is unexpected, so the stack helps.
    return error instanceof ApiRequestError ? error.message : (error.stack ?? error.message);
  }
  return String(error);
}
