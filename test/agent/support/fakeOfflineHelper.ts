/**
 * A stand-in for the PowerShell offline helper: a small Node script, written into a
 * temporary folder, that speaks the helper's line protocol. It decodes each request
 * (base64 of UTF-16LE), records the path, and replies `ok`, `error …`, an invalid line,
 * or nothing, or exits, as the test configures per path.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { OfflineHelperOptions } from '../../../agent/tiering/offlineMarker.ts';

/** What the fake does; paths are compared as decoded, code unit for code unit. */
export interface FakeHelperBehaviour {
  /** Paths the fake replies to with `error Access is denied.` */
  errorFor?: string[];
  /** Path on which the fake writes to stderr and exits with code 3, unanswered. */
  exitOn?: string;
  /** Path from which on the fake sends no replies and keeps running. */
  hangOn?: string;
  /** Path the fake replies to with a line that is neither `ok` nor `error …`. */
  invalidReplyFor?: string;
  /** Wait after the end of input before exiting, in milliseconds. */
  exitDelayMs?: number;
  /** Ignore SIGTERM and keep running after the end of input. */
  ignoreTerm?: boolean;
  /** Start a process that inherits the fake's stdout and outlives it; its pid goes to `orphanFile`. */
  leaveOrphan?: boolean;
}

const SCRIPT = `import { spawn } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const config = JSON.parse(process.argv[2]);
writeFileSync(config.startedFile, String(process.pid));
if (config.ignoreTerm) process.on('SIGTERM', () => undefined);
if (config.leaveOrphan) {
  const orphan = spawn(process.execPath, ['-e', 'setTimeout(() => undefined, 60000)'], { stdio: ['ignore', 'inherit', 'ignore'], detached: true });
  writeFileSync(config.orphanFile, String(orphan.pid));
  orphan.unref();
}

let hung = false;
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  const filePath = Buffer.from(line, 'base64').toString('utf16le');
  appendFileSync(config.recordFile, JSON.stringify(filePath) + '\\n');
  if (hung) return;

  if (filePath === config.exitOn) {
    process.stderr.write('fake helper: exiting on request\\n');
    process.exit(3);
  }
  if (filePath === config.hangOn) {
    hung = true;
    return;
  }
  if (filePath === config.invalidReplyFor) {
    process.stdout.write('maybe\\n');
    return;
  }
  process.stdout.write((config.errorFor ?? []).includes(filePath) ? 'error Access is denied.\\n' : 'ok\\n');
});
lines.on('close', () => {
  if (config.ignoreTerm) {
    setInterval(() => undefined, 1000);
    return;
  }
  setTimeout(() => {
    writeFileSync(config.exitedFile, 'exited');
    process.exit(0);
  }, config.exitDelayMs ?? 0);
});
`;

export interface FakeHelper {
  /** Options that make an OfflineHelperMarker start this fake. */
  options: OfflineHelperOptions;
  /** Returns the paths the fake received, in order. */
  recorded(): Promise<string[]>;
  /** Whether the fake was started. */
  started(): boolean;
  /** The fake's process id, once started. */
  pid(): Promise<number>;
  /** Whether the fake reached its normal exit after the end of its input. */
  exitedNormally(): boolean;
  /** The pid of the process left by `leaveOrphan`. */
  orphanPid(): Promise<number>;
}

/** Writes the fake helper into `folder` and returns how to start and inspect it. */
export async function writeFakeHelper(folder: string, behaviour: FakeHelperBehaviour = {}, replyTimeoutMs = 10_000): Promise<FakeHelper> {
  const scriptPath = path.join(folder, 'fakeOfflineHelper.mjs');
  const recordFile = path.join(folder, 'recorded.jsonl');
  const startedFile = path.join(folder, 'started.pid');
  const exitedFile = path.join(folder, 'exited');
  const orphanFile = path.join(folder, 'orphan.pid');
  await writeFile(scriptPath, SCRIPT);
  await writeFile(recordFile, '');

  const config = { ...behaviour, recordFile, startedFile, exitedFile, orphanFile };
  return {
    options: { command: process.execPath, args: [scriptPath, JSON.stringify(config)], replyTimeoutMs },
    recorded: async () => {
      const text = await readFile(recordFile, 'utf8');
      return text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as string);
    },
    started: () => existsSync(startedFile),
    pid: async () => Number(await readFile(startedFile, 'utf8')),
    exitedNormally: () => existsSync(exitedFile),
    orphanPid: async () => Number(await readFile(orphanFile, 'utf8')),
  };
}
