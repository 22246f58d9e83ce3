/**
 * Putting a tree's file contents into the page cache, or taking them out, before a timed
 * step, so that the steps compared by a benchmark start alike. Otherwise how much of a
 * tree is still cached depends on how long ago it was written and on the kernel's
 * reclaim. On the benchmark machine DAMON pages out idle page cache, and a `cp -a` of
 * the same 1.5 GiB took 1 s to 9 s.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** Cold: every file's pages dropped from the cache. Warm: every file read just before. */
export type CacheState = 'cold' | 'warm';

export const CACHE_STATES: readonly CacheState[] = ['cold', 'warm'];

/** Brings the contents of every regular file under `root` into the given cache state. */
export async function preparePageCache(root: string, state: CacheState): Promise<void> {
  const files = await listFiles(root);
  if (state === 'warm') {
    for (const file of files) await readFile(file);
    return;
  }
  await dropFromPageCache(files);
}

/**
 * Drops the cached pages of `files` with GNU dd's `iflag=nocache count=0`, which calls
 * posix_fadvise(POSIX_FADV_DONTNEED) on the whole file. Node has no binding for it.
 * Dirty pages are not dropped, so callers run `sync` first. Two dd processes run at once.
 */
async function dropFromPageCache(files: string[]): Promise<void> {
  const child = spawn('xargs', ['-0', '-P', '2', '-I', '{}', 'dd', 'if={}', 'iflag=nocache', 'count=0', 'status=none'], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });

  child.stdin.end(files.map((file) => `${file}\0`).join(''));
  const code = await exited;
  if (code !== 0) {
    throw new Error(`dropping ${files.length} files from the page cache failed (xargs and dd exited with ${code}): ${stderr.trim()}. On systems without GNU dd, use --cache warm.`);
  }
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}
