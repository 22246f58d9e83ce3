import { expect } from 'chai';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import {
  createOfflineMarker,
  encodeMarkRequest,
  NO_OFFLINE_MARKER,
  OfflineHelperMarker,
  OfflineMarkerStoppedError,
  windowsPowerShellPath,
} from '../../agent/tiering/offlineMarker.ts';
import { OFFLINE_HELPER_CSHARP, OFFLINE_HELPER_SCRIPT, powerShellArguments } from '../../agent/tiering/offlineHelperScript.ts';
import { STUB_SIZE_BYTES } from '../../agent/tiering/stub.ts';
import { writeFakeHelper } from './support/fakeOfflineHelper.ts';

const run = promisify(execFile);

/** Returns whether `command` can be started from PATH. */
async function isInstalled(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

/** Returns the error `promise` rejects with; fails the test when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** Returns whether a process with this id is still running. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('agent offline marker', function () {
  let folder: string;
  let markers: OfflineHelperMarker[];

  beforeEach(async function () {
    folder = await mkdtemp(path.join(os.tmpdir(), 'strata-offline-'));
    markers = [];
  });

  afterEach(async function () {
    // A marker a test left open would keep its fake running and mocha waiting.
    await Promise.all(markers.map((marker) => marker.close()));
    if (this.currentTest?.state === 'passed') {
      await rm(folder, { recursive: true, force: true });
    }
  });

  function markerFor(options: ConstructorParameters<typeof OfflineHelperMarker>[0]): OfflineHelperMarker {
    const marker = new OfflineHelperMarker(options);
    markers.push(marker);
    return marker;
  }

  it('marks paths in request order', async function () {
    const fake = await writeFakeHelper(folder);
    const marker = markerFor(fake.options);
    const paths = Array.from({ length: 20 }, (_, index) => `\\\\?\\C:\\share\\file-${index}.txt`);

    await Promise.all(paths.map((filePath) => marker.mark(filePath)));

    expect(await fake.recorded()).to.deep.equal(paths);
  });

  it('unpaired surrogates round-trip exactly', async function () {
    const fake = await writeFakeHelper(folder);
    const marker = markerFor(fake.options);
    const highAlone = '\\\\?\\C:\\share\\a\uD800b.txt';
    const lowAlone = '\\\\?\\C:\\share\\\uDC00';
    const pair = '\\\\?\\C:\\share\\\u{1F600}.txt';
    // libuv's WTF-8 form of `\\?\C:\a` followed by the unpaired surrogate U+D800.
    const wtf8 = Buffer.concat([Buffer.from('\\\\?\\C:\\a'), Buffer.from([0xed, 0xa0, 0x80])]);

    await marker.mark(highAlone);
    await marker.mark(lowAlone);
    await marker.mark(pair);
    await marker.mark(wtf8);

    const recorded = await fake.recorded();
    expect(recorded[0]).to.equal(highAlone);
    expect(recorded[1]).to.equal(lowAlone);
    expect(recorded[2]).to.equal(pair);
    expect(recorded[3]).to.equal('\\\\?\\C:\\a\uD800');
  });

  it('request is base64 of UTF-16LE', function () {
    expect(encodeMarkRequest('a\uD800')).to.equal(Buffer.from([0x61, 0x00, 0x00, 0xd8]).toString('base64'));
  });

  it('error reply rejects that path only', async function () {
    const denied = 'C:\\share\\locked.txt';
    const fake = await writeFakeHelper(folder, { errorFor: [denied] });
    const marker = markerFor(fake.options);

    const results = await Promise.allSettled([marker.mark('C:\\share\\one.txt'), marker.mark(denied), marker.mark('C:\\share\\two.txt')]);

    expect(results[0]!.status).to.equal('fulfilled');
    expect(results[1]!.status).to.equal('rejected');
    const error = (results[1] as PromiseRejectedResult).reason as Error;
    expect(error).to.not.be.instanceOf(OfflineMarkerStoppedError);
    expect(error.message).to.equal(`Failed to mark ${denied} offline: Access is denied.`);
    expect(results[2]!.status).to.equal('fulfilled');
  });

  it('invalid WTF-8 path rejects without a request', async function () {
    const fake = await writeFakeHelper(folder);
    const marker = markerFor(fake.options);

    const invalidError = await rejectionOf(marker.mark(Buffer.from([0x43, 0x3a, 0x5c, 0xe9])));

    expect(invalidError.message).to.match(/Invalid WTF-8: no valid sequence starts at byte 3/);
    await marker.mark('C:\\after.txt');
    expect(await fake.recorded()).to.deep.equal(['C:\\after.txt']);
  });

  it('helper exit rejects pending and later marks', async function () {
    const fake = await writeFakeHelper(folder, { exitOn: 'C:\\two' });
    const marker = markerFor(fake.options);

    const results = await Promise.allSettled([marker.mark('C:\\one'), marker.mark('C:\\two'), marker.mark('C:\\three')]);

    expect(results.map((result) => result.status)).to.deep.equal(['fulfilled', 'rejected', 'rejected']);
    const error = (results[1] as PromiseRejectedResult).reason as Error;
    expect(error).to.be.instanceOf(OfflineMarkerStoppedError);
    expect(error.message).to.match(/^The offline marker .* exited \(code 3\) with 2 requests unanswered; its stderr ends with: fake helper: exiting on request$/);
    expect((results[2] as PromiseRejectedResult).reason).to.equal(error);

    const laterError = await rejectionOf(marker.mark('C:\\four'));
    expect(laterError).to.be.instanceOf(OfflineMarkerStoppedError);
    expect(laterError.message).to.match(/exited \(code 3\)/);
  });

  it('hung helper times out and is killed', async function () {
    const fake = await writeFakeHelper(folder, { hangOn: 'C:\\stuck' }, 300);
    const marker = markerFor(fake.options);
    await marker.mark('C:\\fine');

    const startedAt = Date.now();
    const stuck = marker.mark('C:\\stuck');
    const behind = marker.mark('C:\\behind');

    const [stuckError, behindError] = await Promise.all([rejectionOf(stuck), rejectionOf(behind)]);

    expect(stuckError).to.be.instanceOf(OfflineMarkerStoppedError);
    expect(stuckError.message).to.match(/did not reply within 0\.3 s and was stopped/);
    expect(behindError).to.be.instanceOf(OfflineMarkerStoppedError);
    expect(behindError.message).to.match(/did not reply within 0\.3 s/);
    expect(Date.now() - startedAt).to.be.below(5000);
    await marker.close();
    expect(isRunning(await fake.pid())).to.equal(false);
    expect(fake.exitedNormally()).to.equal(false);
  });

  it('close waits for the helper to exit', async function () {
    const fake = await writeFakeHelper(folder, { exitDelayMs: 300 });
    const marker = markerFor(fake.options);
    await marker.mark('C:\\one');

    await marker.close();

    expect(fake.exitedNormally()).to.equal(true);
    const closedError = await rejectionOf(marker.mark('C:\\two'));
    expect(closedError).to.be.instanceOf(OfflineMarkerStoppedError);
    expect(closedError.message).to.equal('The offline marker is closed');
  });

  it('close kills a helper ignoring SIGTERM', async function () {
    const fake = await writeFakeHelper(folder, { ignoreTerm: true }, 200);
    const marker = markerFor({ ...fake.options, closeGraceMs: 200 });
    await marker.mark('C:\\one');

    const started = Date.now();
    await marker.close();

    expect(Date.now() - started).to.be.below(5_000);
    expect(isRunning(await fake.pid())).to.equal(false);
  });

  it('close ends despite an orphan holding output', async function () {
    const fake = await writeFakeHelper(folder, { leaveOrphan: true }, 200);
    const marker = markerFor({ ...fake.options, closeGraceMs: 200 });
    await marker.mark('C:\\one');
    const orphan = await fake.orphanPid();

    try {
      const started = Date.now();
      await marker.close();

      expect(Date.now() - started).to.be.below(5_000);
      expect(fake.exitedNormally()).to.equal(true);
      const closedError = await rejectionOf(marker.mark('C:\\two'));
      expect(closedError.message).to.contain('its output stayed open');
    } finally {
      process.kill(orphan);
    }
  });

  it('close without marks starts nothing', async function () {
    const fake = await writeFakeHelper(folder);
    const marker = markerFor(fake.options);

    await marker.close();

    expect(fake.started()).to.equal(false);
  });

  it('missing program rejects with the start failure', async function () {
    const marker = markerFor({ command: path.join(folder, 'no-such-powershell.exe'), args: [] });

    const startError = await rejectionOf(marker.mark('C:\\one'));
    expect(startError).to.be.instanceOf(OfflineMarkerStoppedError);
    expect(startError.message).to.match(/^Failed to start the offline marker .*no-such-powershell\.exe: spawn .* ENOENT$/);
  });

  it('invalid reply stops the marker', async function () {
    const fake = await writeFakeHelper(folder, { invalidReplyFor: 'C:\\odd' });
    const marker = markerFor(fake.options);

    const oddError = await rejectionOf(marker.mark('C:\\odd'));
    expect(oddError).to.be.instanceOf(OfflineMarkerStoppedError);
    expect(oddError.message).to.match(/sent an invalid reply, expected "ok" or "error <message>": "maybe"/);
    const nextError = await rejectionOf(marker.mark('C:\\next'));
    expect(nextError).to.be.instanceOf(OfflineMarkerStoppedError);
    expect(nextError.message).to.match(/invalid reply/);
  });

  it('default marker off Windows marks nothing', async function () {
    const fake = await writeFakeHelper(folder);

    const linux = createOfflineMarker('linux', fake.options);
    const darwin = createOfflineMarker('darwin', fake.options);
    try {
      await linux.mark('/srv/share/no-such-file');
      await darwin.mark('/srv/share/no-such-file');
    } finally {
      await Promise.all([linux.close(), darwin.close()]);
    }

    expect(linux).to.equal(NO_OFFLINE_MARKER);
    expect(darwin).to.equal(NO_OFFLINE_MARKER);
    expect(fake.started()).to.equal(false);
  });

  it('default marker on Windows starts the helper', async function () {
    const fake = await writeFakeHelper(folder);
    const windows = createOfflineMarker('win32', fake.options);
    expect(windows).to.be.instanceOf(OfflineHelperMarker);
    markers.push(windows as OfflineHelperMarker);

    await windows.mark('C:\\share\\one.txt');

    expect(await fake.recorded()).to.deep.equal(['C:\\share\\one.txt']);
  });

  it('PowerShell is taken from the Windows folder', function () {
    expect(windowsPowerShellPath({ SystemRoot: 'D:\\WINDOWS' })).to.equal('D:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\powershell.exe');
    expect(windowsPowerShellPath({})).to.equal('C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe');
  });

  it('PowerShell script sets the Offline bit', function () {
    const args = powerShellArguments();
    expect(args.slice(0, -1)).to.deep.equal(['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand']);
    const script = Buffer.from(args.at(-1)!, 'base64').toString('utf16le');

    expect(script).to.equal(OFFLINE_HELPER_SCRIPT);
    expect(script).to.contain('const uint FileAttributeOffline = 0x1000;');
    expect(script).to.contain('uint attributes = (data.Attributes & ~FileAttributeNormal) | FileAttributeOffline;');
    expect(script).to.contain('SetFileAttributesW(path, attributes)');
    expect(script).to.contain(`const long StubSizeBytes = ${STUB_SIZE_BYTES};`);
    // A PowerShell here-string: @' ends its line, and '@ starts the line that ends it.
    expect(script).to.contain(`-TypeDefinition @'\n${OFFLINE_HELPER_CSHARP}'@\n[StrataOfflineHelper]::Run()`);
    expect(OFFLINE_HELPER_CSHARP).to.not.contain("\n'@");
  });

  it('PowerShell command line fits CreateProcess', function () {
    const commandLine = [windowsPowerShellPath({}), ...powerShellArguments()].join(' ');

    expect(commandLine.length).to.be.below(32_767);
  });

  describe('helper C# source', function () {
    // Add-Type in Windows PowerShell 5.1 compiles with .NET Framework's C# 5 compiler. Mono's
    // mcs compiles it here instead, against mscorlib alone, and the tests skip without Mono.
    // The Win32 calls cannot run on Linux, so the harness runs only the decoding and the
    // replies to invalid requests.
    const HARNESS = `using System;
using System.Reflection;

public static class Harness
{
    public static void Main(string[] args)
    {
        if (args[0] == "run")
        {
            StrataOfflineHelper.Run();
            return;
        }

        MethodInfo decode = typeof(StrataOfflineHelper).GetMethod("DecodePath", BindingFlags.NonPublic | BindingFlags.Static);
        string decoded = (string)decode.Invoke(null, new object[] { args[1] });
        foreach (char unit in decoded)
        {
            Console.Write(((int)unit).ToString("x4") + " ");
        }
    }
}
`;
    let buildFolder: string;
    let helperSource: string;
    let harnessProgram: string;

    before(async function () {
      if (!(await isInstalled('mcs')) || !(await isInstalled('mono'))) {
        console.log('    (skipped: Mono mcs and mono are not installed; apt-get install mono-mcs)');
        this.skip();
      }
      buildFolder = await mkdtemp(path.join(os.tmpdir(), 'strata-offline-cs-'));
      helperSource = path.join(buildFolder, 'helper.cs');
      await writeFile(helperSource, OFFLINE_HELPER_CSHARP);
      const harnessSource = path.join(buildFolder, 'harness.cs');
      await writeFile(harnessSource, HARNESS);
      harnessProgram = path.join(buildFolder, 'harness.exe');
      await run('mcs', ['-noconfig', '-langversion:5', `-out:${harnessProgram}`, helperSource, harnessSource]);
    });

    after(async function () {
      if (buildFolder !== undefined) await rm(buildFolder, { recursive: true, force: true });
    });

    it('compiles as C# 5 without warnings', async function () {
      await run('mcs', ['-noconfig', '-langversion:5', '-warnaserror', '-target:library', `-out:${path.join(buildFolder, 'helper.dll')}`, helperSource]);
    });

    it('keeps unpaired surrogates when decoding', async function () {
      const { stdout } = await run('mono', [harnessProgram, 'decode', encodeMarkRequest('C:\\a\uD800\uDC00\uDC01')]);

      expect(stdout.trim()).to.equal('0043 003a 005c 0061 d800 dc00 dc01');
    });

    it('replies to invalid requests per line', function () {
      const oddLength = Buffer.from([0x41, 0x00, 0x42]).toString('base64');

      const helper = spawnSync('mono', [harnessProgram, 'run'], { input: `not base64!\n${oddLength}\n`, encoding: 'utf8' });

      expect(helper.status, helper.stderr).to.equal(0);
      const replies = helper.stdout.split('\n');
      expect(replies).to.have.length(3);
      expect(replies[0]).to.match(/^error invalid request, expected base64 of UTF-16LE: /);
      expect(replies[1]).to.equal('error invalid request, expected base64 of UTF-16LE: odd number of bytes');
      expect(replies[2]).to.equal('');
    });
  });
});
