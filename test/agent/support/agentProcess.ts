/** Runs the strata-agent executable as a child process, as a user or a service manager would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const AGENT_BIN = fileURLToPath(new URL('../../../agent/strata-agent.mjs', import.meta.url));

export interface AgentExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the agent with `args` and returns the process with a promise of its exit. */
export function startAgent(args: string[]): { child: ChildProcess; exited: Promise<AgentExit> } {
  const child = spawn(process.execPath, [AGENT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (data: Buffer) => (stdout += data.toString('utf8')));
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
  const exited = new Promise<AgentExit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, exited };
}

/** Polls `check` every 10 ms until it returns true, failing after 20 s. */
export async function waitFor(description: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting until ${description}`);
    }
    await sleep(10);
  }
}
