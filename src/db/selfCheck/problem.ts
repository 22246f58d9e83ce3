/** One finding of the self-check: what is wrong, on which object, and what to do about it. */
export interface Problem {
  /** The kind of finding, stable for tests and logs: `superuser`, `rls-not-forced`, … */
  check: string;
  /** The role, schema, table, view or function concerned, e.g. `table t_acme.scan`. */
  subject: string;
  /** Description of the fault and its fix, in one or two sentences. */
  message: string;
}

/** Render problems as indented lines for a terminal or a log. */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((problem) => `  - ${problem.subject}: ${problem.message}`).join('\n');
}
