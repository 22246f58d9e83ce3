/** The fault run's summary on stdout; its last line is the key=value line. */
import type { AgentRun } from './agentSlot.ts';
import type { ComparisonTotals, ScanComparison } from './compareRows.ts';
import type { FaultOutcome } from './faultSchedule.ts';
import type { UnexpectedExit } from './strataChild.ts';

export interface RunReport {
  seed: number;
  faults: FaultOutcome;
  unexpectedExits: readonly UnexpectedExit[];
  runs: readonly AgentRun[];
  scans: readonly ScanComparison[];
  totals: ComparisonTotals;
  /** Everything that makes the run fail besides lost and duplicated rows. */
  problems: readonly string[];
}

export function printReport(report: RunReport): void {
  const lines: string[] = [];
  lines.push(`Kills (seed ${report.seed}):`);
  if (report.faults.kills.length === 0) lines.push('  none');
  for (const kill of report.faults.kills) {
    lines.push(
      `  ${String(kill.index).padStart(3)}  ${kill.atSeconds.toFixed(1).padStart(6)} s  ${kill.target.padEnd(9)} pid ${String(kill.pid).padEnd(7)} ` +
        `${kill.point.padEnd(13)} down ${String(kill.downMs).padStart(4)} ms  ${kill.detail}`,
    );
  }

  const restart = report.faults.postgresRestart;
  lines.push(
    restart === undefined
      ? 'PostgreSQL restart: none'
      : `PostgreSQL restart: ${restart.mode} shutdown at ${restart.atSeconds.toFixed(1)} s, accepting connections again ${restart.downSeconds.toFixed(1)} s later`,
  );

  lines.push(
    report.unexpectedExits.length === 0
      ? 'Processes that exited on their own: none'
      : `Processes that exited on their own: ${report.unexpectedExits.map((exit) => `${exit.label} (pid ${exit.pid}, ${exit.exitStatus}) at ${exit.atSeconds.toFixed(1)} s`).join('; ')}`,
  );

  lines.push(describeAgents(report.runs));
  const totals = report.totals;
  lines.push(
    `Scans: ${report.scans.length} compared, ${report.scans.length - totals.notOk} OK; rows sent ${totals.sent}, stored ${totals.stored}, ` +
      `lost ${totals.lost}, duplicated ${totals.duplicated}, stored but never sent ${totals.unexpected}`,
  );
  for (const scan of report.scans) {
    if (scan.status === 'OK' && scan.lost === 0 && scan.duplicated === 0 && scan.unexpected === 0) continue;
    lines.push(
      `  scan ${scan.scanGuid} ${scan.status}: sent ${scan.sent}, stored ${scan.stored}, lost ${scan.lost}, ` +
        `duplicated ${scan.duplicated}, stored but never sent ${scan.unexpected}`,
    );
  }

  lines.push(report.problems.length === 0 ? 'Problems: none' : 'Problems:');
  for (const problem of report.problems) lines.push(`  ${problem}`);

  lines.push(
    `kills=${report.faults.kills.length} sent=${totals.sent} stored=${totals.stored} lost=${totals.lost} duplicated=${totals.duplicated}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

function describeAgents(runs: readonly AgentRun[]): string {
  const ok = runs.filter((run) => run.status === 'OK').length;
  const retries = new Map<string, number>();
  for (const run of runs) {
    for (const [cause, count] of run.retries) retries.set(cause, (retries.get(cause) ?? 0) + count);
  }

  const total = [...retries.values()].reduce((sum, count) => sum + count, 0);
  const causes = [...retries.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([cause, count]) => `${cause}: ${count}`)
    .join(', ');
  // The agent logs a retry line for each failed attempt but the last of a request that
  // gives up, so such a request shows one attempt fewer than it made.
  const maxFailed = Math.max(0, ...runs.map((run) => run.maxFailedAttempts));
  return (
    `Agents: ${runs.length} scans run, ${ok} ended OK; ${total} request retries${total > 0 ? ` (${causes})` : ''}; ` +
    `most failed attempts of one retried request: ${maxFailed}`
  );
}
