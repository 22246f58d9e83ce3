import { copyFile, mkdir, opendir, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';

/** What the demo's sample share holds once built. */
export interface DemoShare {
  root: string;
  files: number;
  bytes: number;
}

const SIX_YEARS_SECONDS = 6 * 365 * 86_400;

/**
 * Build the demo's share at `root` from up to `maxFiles` regular files of `source`,
 * copied with their folders, and give each copy access and modification times spread
 * evenly over the last six years, newest first. Tiering replaces files with stubs, so
 * the demo works on copies and never on the tree it was pointed at. The folder is
 * emptied first, so every run starts from the same state.
 */
export async function buildDemoShare(source: string, root: string, maxFiles: number, nowSeconds = Math.floor(Date.now() / 1000)): Promise<DemoShare> {
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });

  const share: DemoShare = { root, files: 0, bytes: 0 };
  for await (const file of regularFiles(source)) {
    if (share.files >= maxFiles) break;

    const target = path.join(root, path.relative(source, file.path));
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(file.path, target);

    // Spread over six years by position: about five files in six end up older than a year.
    const ageSeconds = Math.floor((share.files / maxFiles) * SIX_YEARS_SECONDS);
    const when = nowSeconds - ageSeconds;
    await utimes(target, when, when);

    share.files++;
    share.bytes += file.size;
  }
  return share;
}

/** Walk `root` depth first in name order, yielding regular files; links and special files are skipped. */
async function* regularFiles(root: string): AsyncGenerator<{ path: string; size: number }> {
  const entries = [];
  for await (const entry of await opendir(root)) entries.push(entry);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  for (const entry of entries) {
    const full = path.join(root, entry.name);
    if (entry.isDirectory()) {
      yield* regularFiles(full);
    } else if (entry.isFile()) {
      const { size } = await stat(full);
      yield { path: full, size };
    }
  }
}
