import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The short variant of `npm run faults:ingest`: two kills at the targeted points (an API
 * process during a chunk COPY, a worker inside a job's transaction) and one PostgreSQL
 * crash-restart, over two small trees. The script starts its own PostgreSQL, so this
 * test does not use the suite's database.
 */
describe('ingest under faults', () => {
  it('stores every row once through kills and a restart', async function () {
    // It took about 80 s on two busy cores (load average 10), mostly spent starting
    // processes; the rest is headroom.
    this.timeout(300_000);

    // An API restart took 5 to 12 s on two busy cores. With the agent's default 8
    // attempts, a request gives up during a 7 s outage about once in 400 times and during
    // a 10 s one about once in 80 (estimates from simulating its backoff with full
    // jitter). 12 attempts make that negligible, so the test does not fail at random.
    const args = [
      '--import', 'tsx', 'scripts/faults/ingest.ts',
      '--kills', '2', '--agents', '2', '--files', '300', '--chunk-rows', '50',
      '--apis', '1', '--workers', '1', '--heartbeat-seconds', '10', '--agent-max-attempts', '12', '--timeout', '180',
    ];
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const [code] = (await once(child, 'close')) as [number | null];

    const output = `stdout:\n${stdout}\nstderr:\n${stderr}`;
    const lastLine = stdout.trimEnd().split('\n').at(-1) ?? '';
    const match = /^kills=(\d+) sent=(\d+) stored=(\d+) lost=(\d+) duplicated=(\d+)$/.exec(lastLine);
    expect(match, `last line is not the key=value line\n${output}`).to.not.equal(null);

    const [kills, sent, stored, lost, duplicated] = match!.slice(1).map(Number);
    expect(kills, output).to.equal(2);
    expect(sent, output).to.be.at.least(600);
    expect(lost, output).to.equal(0);
    expect(duplicated, output).to.equal(0);
    expect(stored, output).to.equal(sent);
    expect(stdout, output).to.include('PostgreSQL restart: immediate shutdown');
    expect(code, output).to.equal(0);
  });
});
