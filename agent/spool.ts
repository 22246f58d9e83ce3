/**
 * The spool folder of one scan, `<spool root>/<scanGuid>/`, and what it records so that
 * `strata-agent resume` can finish the scan after the agent was killed:
 *
 *   scan.json                 the scan's settings, and once the walk has finished, its totals
 *   chunk-000042.csv.gz       a finished chunk not yet acknowledged by the server
 *   chunk-000042.csv.gz.ok    the server acknowledged chunk 42 (its receipt); the chunk file is then removed
 *   chunk-000043.csv.gz.part  a chunk still being written; never uploaded
 *
 * Chunk files and scan.json are flushed to disk (fsync) before they get their final
 * names, so after a power loss a file with a final name is complete. A marker may be
 * lost in a power loss; the chunk is then sent again, and the server answers the same
 * bytes with its stored receipt instead of loading them twice.
 */
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { ChunkReceipt, PathStyle, SourceType } from '../src/wire/contract.ts';
import { chunkFileName } from './chunkWriter.ts';
import { syncFolder, writeFileDurably } from './durableFile.ts';

export const MANIFEST_FILE = 'scan.json';
export const ACK_SUFFIX = '.ok';

/** Version of the scan.json layout; resume rejects other versions. */
const MANIFEST_FORMAT = 1;

/** Totals of a finished walk, recorded so that resume can complete the scan truthfully. */
export interface WalkTotals {
  chunkCount: number;
  rowCount: number;
  /** Rows of each chunk, by seq. */
  chunkRows: number[];
  unreadableCount: number;
  files: number;
  dirs: number;
  skipped: number;
  escaped: number;
  bytes: number;
}

/** Content of scan.json. */
export interface SpoolManifest {
  format: number;
  scanGuid: string;
  serverUrl: string;
  shareName: string;
  sourceType: SourceType;
  /** Root as reported to the server. */
  rootPath: string;
  /** Root as the agent opened it, for a new scan of the same tree. */
  localRootPath: string;
  pathStyle: PathStyle;
  startedAt: number;
  chunkRows: number;
  /** Absent until the walk has finished and its last chunk file is on disk. */
  walk?: WalkTotals;
}

/** A spool folder that resume cannot use, with what to do about it. */
export class SpoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpoolError';
  }
}

export function newManifest(fields: Omit<SpoolManifest, 'format' | 'walk'>): SpoolManifest {
  return { format: MANIFEST_FORMAT, ...fields };
}

/** Writes scan.json atomically: a reader sees the old content or the new, never a mix. */
export async function writeManifest(spoolDir: string, manifest: SpoolManifest): Promise<void> {
  const finalPath = path.join(spoolDir, MANIFEST_FILE);
  const temporaryPath = `${finalPath}.tmp`;
  await writeFileDurably(temporaryPath, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(temporaryPath, finalPath);
  await syncFolder(spoolDir);
}

export async function readManifest(spoolDir: string): Promise<SpoolManifest> {
  const manifestPath = path.join(spoolDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new SpoolError(`Cannot read ${manifestPath}: ${code}. The folder is not a scan spool written by this agent version.`);
  }

  let manifest: SpoolManifest;
  try {
    manifest = JSON.parse(text) as SpoolManifest;
  } catch {
    throw new SpoolError(`Invalid ${manifestPath}: not JSON. Remove the folder and scan again.`);
  }
  if (manifest.format !== MANIFEST_FORMAT) {
    throw new SpoolError(`Invalid ${manifestPath}: format ${manifest.format}, expected ${MANIFEST_FORMAT}. Resume it with the agent version that wrote it.`);
  }
  return manifest;
}

/** Records the server's receipt next to the chunk, then removes the chunk file, which is no longer needed. */
export async function markChunkAcknowledged(chunkPath: string, receipt: ChunkReceipt): Promise<void> {
  await writeFile(`${chunkPath}${ACK_SUFFIX}`, `${JSON.stringify(receipt)}\n`);
  await rm(chunkPath, { force: true });
}

/** Seqs of the chunks the server has acknowledged, from their `.ok` markers. */
export async function acknowledgedSeqs(spoolDir: string): Promise<Set<number>> {
  const seqs = new Set<number>();
  for (const name of await readdir(spoolDir)) {
    const match = /^chunk-(\d+)\.csv\.gz\.ok$/.exec(name);
    if (match !== null) {
      seqs.add(Number(match[1]));
    }
  }
  return seqs;
}

export function chunkPath(spoolDir: string, seq: number): string {
  return path.join(spoolDir, chunkFileName(seq));
}
