/**
 * Scanner benchmark: enumerates a real tree with the agent's own walker and with
 * `find -printf`, both reading the same metadata, and compares files per second.
 * Last line on stdout:
 *   agent_files_per_s=<n> find_files_per_s=<n> ratio=<x>
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';

import { formatCsvRow } from '../../agent/chunkWriter.ts';
import { TreeWalker, type StatMode } from '../../agent/walk.ts';

const usage = `Usage: npm run bench:scan -- --root PATH [--rounds N] [--stat-mode sync|parallel]

Enumerates the tree under PATH read-only, in the same process run, two ways:

  agent  the agent's TreeWalker (agent/walk.ts) as a scan uses it (walkBatches):
         folder listing, one lstat per entry that is not a folder or link, and the
         CSV row the agent writes for each regular file (formatCsvRow, collected into
         64 KiB strings as the chunk writer does). Gzip, the spool file and the upload
         are not timed.
  find   find PATH -type f -printf '%s %A@ %T@ %C@ %f %h\\0', the same fields
         (size, atime, mtime, ctime, name, folder), read by this process from a pipe
         that only counts the records.

Neither follows symbolic links. Before timing, one untimed find pass and one untimed
agent pass warm the page, inode and dentry caches (and the agent's JIT), so every
timed pass sees a warm cache. Then the two are timed in turn, N rounds each, and the
median of each side is reported.

Options:
  --root PATH    tree to enumerate (required)
  --rounds N     timed passes of each side (default 3)
  --stat-mode M  the walker's mode: sync (local disks, the default) or parallel
                 (what the agent uses for SMB and LucidLink sources)
  -h, --help     print this help

Output: one line per pass on stderr with its wall-clock and CPU time, a line with the
median CPU microseconds per file of each side, then as the last line on stdout
  agent_files_per_s=<n> find_files_per_s=<n> ratio=<agent/find, 3 decimals>
The rates are files over wall-clock seconds. On a shared machine the CPU times vary
less: the agent's is this process's user and system time during its pass; find's is
read from /proc by the shell that runs it (Linux only, else reported as 0).

Exit status: 0 on success, 2 for an invalid command line, 1 when find fails.`;

interface PassResult {
  files: number;
  seconds: number;
  cpuSeconds: number;
}

/** Rows are collected into strings of this size before they are dropped, as ChunkWriter hands them to gzip. */
const WRITE_BUFFER_CHARS = 64 * 1024;

const FIND_FORMAT = '%s %A@ %T@ %C@ %f %h\\0';

interface Options {
  root: string;
  rounds: number;
  statMode: StatMode;
}

function parseOptions(): Options {
  let values;
  try {
    values = parseArgs({
      options: {
        root: { type: 'string' },
        rounds: { type: 'string' },
        'stat-mode': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }

  if (values.help === true) {
    console.log(usage);
    process.exit(0);
  }
  if (values.root === undefined) {
    console.error(`Missing --root PATH: pass the tree to enumerate.\n\n${usage}`);
    process.exit(2);
  }

  const rounds = Number(values.rounds ?? '3');
  if (!Number.isSafeInteger(rounds) || rounds < 1) {
    console.error(`Invalid --rounds ${JSON.stringify(values.rounds)}: expected a whole number of at least 1.`);
    process.exit(2);
  }
  const statMode = values['stat-mode'] ?? 'sync';
  if (statMode !== 'sync' && statMode !== 'parallel') {
    console.error(`Invalid --stat-mode ${JSON.stringify(statMode)}: expected sync or parallel.`);
    process.exit(2);
  }
  return { root: path.resolve(values.root), rounds, statMode };
}

/** Walks the tree as the agent does and builds every CSV row; returns the files seen. */
async function agentPass(root: string, statMode: StatMode): Promise<PassResult> {
  // Warnings (e.g. escaped names) would cost the same in every pass, but they are
  // written to stderr at the agent's default level only.
  const logger = pino({ level: 'warn' }, pino.destination({ dest: 2, sync: true }));
  const walker = new TreeWalker(root, { logger, statMode });

  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  let buffer = '';
  let characters = 0;
  for await (const batch of walker.walkBatches()) {
    for (const record of batch) {
      buffer += formatCsvRow(record);
      if (buffer.length >= WRITE_BUFFER_CHARS) {
        characters += buffer.length;
        buffer = '';
      }
    }
  }
  characters += buffer.length;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStart);

  // Using the total keeps the string building from being optimised away.
  if (characters === 0 && walker.counters.files > 0) {
    throw new Error('The agent pass built no CSV text');
  }
  return { files: walker.counters.files, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/**
 * Runs find with the same fields and counts the NUL-terminated records it prints. A shell
 * runs find, then writes its own /proc stat line, whose cutime and cstime fields hold
 * the CPU time of the reaped find, and the clock-tick rate to stderr.
 */
function findPass(root: string): Promise<PassResult> {
  const script = 'find "$@"; status=$?; cat /proc/$$/stat >&2 2>/dev/null; getconf CLK_TCK >&2; exit $status';
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('sh', ['-c', script, 'sh', root, '-type', 'f', '-printf', FIND_FORMAT], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let files = 0;
    let stderr = '';

    child.stdout.on('data', (data: Buffer) => {
      for (let index = data.indexOf(0); index !== -1; index = data.indexOf(0, index + 1)) {
        files++;
      }
    });
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;

      // find exits 1 when some entries could not be read. The agent counts those as
      // unreadable and goes on, so status 1 is not a failure here.
      if (code !== 0 && code !== 1) {
        reject(new Error(`find exited with status ${code}: ${stderr.trim()}`));
        return;
      }
      resolve({ files, seconds, cpuSeconds: childCpuSeconds(stderr) });
    });
  });
}

/** Reads the CPU seconds of the shell's reaped children from its /proc stat line, or 0 without one. */
function childCpuSeconds(stderr: string): number {
  const lines = stderr.trim().split('\n');
  const ticksPerSecond = Number(lines.at(-1));
  const statLine = lines.at(-2) ?? '';

  // Fields after the parenthesised command name start at field 3 (state); cutime and
  // cstime are fields 16 and 17 (proc(5)).
  const fields = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  const childTicks = Number(fields[13]) + Number(fields[14]);
  return Number.isFinite(childTicks) && ticksPerSecond > 0 ? childTicks / ticksPerSecond : 0;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function describe(side: string, round: number, result: PassResult): string {
  const rate = Math.round(result.files / result.seconds);
  return (
    `${side} pass ${round}: ${result.files} files in ${result.seconds.toFixed(3)} s ` +
    `(CPU ${result.cpuSeconds.toFixed(3)} s), ${rate} files/s`
  );
}

async function main(): Promise<number> {
  const { root, rounds, statMode } = parseOptions();

  console.error(`Warming the caches under ${root} (one untimed pass of each side)`);
  const warmFind = await findPass(root);
  const warmAgent = await agentPass(root, statMode);
  if (warmFind.files !== warmAgent.files) {
    // Both read the same tree, so a difference means entries changed during the run or
    // one side lost files; the rates are then not comparable.
    console.error(`NOTE: find listed ${warmFind.files} files but the agent ${warmAgent.files}`);
  }

  const agentRates: number[] = [];
  const findRates: number[] = [];
  const agentCpuPerFile: number[] = [];
  const findCpuPerFile: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const agent = await agentPass(root, statMode);
    console.error(describe('agent', round, agent));
    agentRates.push(agent.files / agent.seconds);
    agentCpuPerFile.push(agent.cpuSeconds / agent.files);

    const find = await findPass(root);
    console.error(describe('find', round, find));
    findRates.push(find.files / find.seconds);
    findCpuPerFile.push(find.cpuSeconds / find.files);
  }

  const microseconds = (values: number[]): string => (median(values) * 1e6).toFixed(2);
  console.error(`CPU per file (median): agent ${microseconds(agentCpuPerFile)} µs, find ${microseconds(findCpuPerFile)} µs`);

  const agentRate = median(agentRates);
  const findRate = median(findRates);
  console.log(
    `agent_files_per_s=${Math.round(agentRate)} find_files_per_s=${Math.round(findRate)} ` +
      `ratio=${(agentRate / findRate).toFixed(3)}`,
  );
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`bench:scan failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
