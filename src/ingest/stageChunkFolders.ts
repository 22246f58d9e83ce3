import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { IngestLimits } from '../config.ts';
import { StrataError } from '../errors.ts';
import type { ChunkFolder, ChunkFolders } from './folderHashRewriter.ts';
import { folderPathProblem, type PathStyle } from './folderPaths.ts';
import { scanFoldersPartition } from './scanPartition.ts';

/** The scan a chunk belongs to, as far as its folders are concerned. */
export interface FolderScope {
  scanId: number;
  share: string;
  pathStyle: PathStyle;
}

interface Listed {
  path: string;
  folder: ChunkFolder;
}

/** Lines of folder CSV per buffer handed to COPY. */
const LINES_PER_PIECE = 2_000;

/**
 * Check a chunk's folders and stage them in the scan's partition of `scan_dir`, in the
 * upload's transaction. Returns how many were staged. The client must act as the
 * stager, which owns the partition. Folder paths are checked here, once per distinct
 * folder, rather than by a CHECK on every row: per-row pattern checks on the path cost
 * as much as the rest of the COPY. Finalisation adds the scan's new folders to `dir`
 * (see mergeScanFolders.ts).
 */
export async function stageChunkFolders(client: pg.PoolClient, scope: FolderScope, folders: ChunkFolders, limits: IngestLimits): Promise<number> {
  const listed = listFolders(folders, scope.share);
  for (const { path, folder } of listed) checkFolder(path, folder.line, scope.pathStyle, limits);

  const partition = client.escapeIdentifier(scanFoldersPartition(scope.scanId));
  const copy = client.query(copyFrom(`COPY ${partition} (dir_hash, dir_path) FROM STDIN (FORMAT csv)`));
  await pipeline(Readable.from(folderCsv(listed)), copy);
  return listed.length;
}

/** Yield the folders as CSV lines of hash and quoted path, a few thousand per piece. */
function* folderCsv(listed: Listed[]): Generator<string> {
  for (let start = 0; start < listed.length; start += LINES_PER_PIECE) {
    let piece = '';
    for (const { path, folder } of listed.slice(start, start + LINES_PER_PIECE)) {
      piece += `${folder.hashText},"${path.replaceAll('"', '""')}"\n`;
    }
    yield piece;
  }
}

/** List the chunk's folders, and raise when two of them share a hash. */
function listFolders(folders: ChunkFolders, share: string): Listed[] {
  const byHash = new Map<string, string>();
  const listed: Listed[] = [];
  for (const [path, folder] of folders) {
    const other = byHash.get(folder.hashText);
    if (other !== undefined) throw folderCollision(share, path, other);
    byHash.set(folder.hashText, path);
    listed.push({ path, folder });
  }
  return listed;
}

/** Build the error for two folders of a share with one 64-bit hash. */
export function folderCollision(share: string, path: string, other: string): StrataError {
  return StrataError.conflict(
    'FOLDER_HASH_COLLISION',
    `folders ${JSON.stringify(path)} and ${JSON.stringify(other)} of share ${share} have the same 64-bit hash; the chunk cannot be stored`,
  );
}

/** Reject a folder path that is not canonical for the scan's style or is longer than allowed. */
function checkFolder(folder: string, line: number, style: PathStyle, limits: IngestLimits): void {
  const problem = folderPathProblem(folder, style);
  if (problem) {
    throw StrataError.invalid(
      'INVALID_CHUNK_ROW',
      `chunk rejected at line ${line}, column dir_path: ${problem} (${JSON.stringify(folder)}); no row of this chunk was kept`,
      { line, column: 'dir_path' },
    );
  }

  // The limit counts characters; a string's length counts UTF-16 units, never fewer.
  if (folder.length > limits.maxPathChars && [...folder].length > limits.maxPathChars) {
    throw StrataError.invalid(
      'LIMIT_EXCEEDED',
      `chunk rejected at line ${line}, column dir_path: value longer than STRATA_MAX_PATH_CHARS allows (${limits.maxPathChars} characters); no row of this chunk was kept`,
      { line, column: 'dir_path', limit: 'STRATA_MAX_PATH_CHARS' },
    );
  }
}
