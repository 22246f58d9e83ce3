/**
 * The folder trees the agents scan during a fault run. Each file becomes one row, and
 * the (folder, name) key of every file is recorded, so the rows stored for a scan can
 * be compared one by one with the rows the agent sent.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Files per folder; folders are nested two levels deep below the root. */
const FILES_PER_FOLDER = 25;

/** Subfolders per folder of the first level. */
const SUBFOLDERS = 4;

export interface FaultTree {
  root: string;
  /** One key per file, as `rowKey` builds it from the folder path and the name. */
  keys: Set<string>;
}

/** Key of one row: the folder's absolute path and the file name, joined by a NUL, which neither can contain. */
export function rowKey(dirPath: string, name: string): string {
  return `${dirPath}\u0000${name}`;
}

/**
 * Write `files` files under `root`. Some names carry spaces, commas, quotes and
 * non-ASCII letters, so the CSV quoting of the chunks is exercised as well.
 */
export async function writeFaultTree(root: string, files: number): Promise<FaultTree> {
  const keys = new Set<string>();

  for (let index = 0; index < files; index++) {
    const dirPath = path.join(root, ...folderOf(index));
    const name = fileName(index);
    if (index % FILES_PER_FOLDER === 0) await mkdir(dirPath, { recursive: true });

    // Sizes vary so the rows differ in more than their names; the content is never read.
    await writeFile(path.join(dirPath, name), Buffer.alloc(index % 97));
    keys.add(rowKey(dirPath, name));
  }
  return { root, keys };
}

/** Folder segments below the root for file `index`: the root itself, then `d<n>` and `d<n>/e<m>`. */
function folderOf(index: number): string[] {
  const folder = Math.floor(index / FILES_PER_FOLDER);
  if (folder === 0) return [];

  const top = Math.floor((folder - 1) / (SUBFOLDERS + 1));
  const sub = (folder - 1) % (SUBFOLDERS + 1);
  return sub === 0 ? [`d${top}`] : [`d${top}`, `e${sub} ëxtra`];
}

function fileName(index: number): string {
  if (index % 7 === 0) return `naïve, "quoted" ${index}.txt`;
  if (index % 11 === 0) return `with  spaces ${index} .log`;
  if (index % 13 === 0) return `日本語-${index}.dat`;
  return `f${index}.dat`;
}
