import type pg from 'pg';
import type { IngestLimits } from '../config.ts';
import { StrataError } from '../errors.ts';
import { SqlState, sqlStateOf } from '../db/sqlstate.ts';
import type { ChunkFolder, ChunkFolders } from './folderHashRewriter.ts';
import { folderPathProblem, type PathStyle } from './folderPaths.ts';
import { INSERT_CHUNK_FOLDERS, INSERT_CHUNK_FOLDERS_AFTER_RACE, SORT_CHUNK_FOLDERS, STORED_FOLDER_PATH } from './sql/chunkFolders.ts';

/** The scan a chunk belongs to, as far as its folders are concerned. */
export interface FolderScope {
  tenantId: string;
  share: string;
  pathStyle: PathStyle;
}

interface Listed {
  path: string;
  folder: ChunkFolder;
}

/**
 * Check a chunk's folders and add the new ones to `dir`, in the upload's transaction;
 * returns how many this upload added. Folder paths are checked here, once per distinct
 * folder, rather than by a CHECK on every row: per-row pattern checks on the path cost
 * as much as the rest of the COPY.
 */
export async function addChunkFolders(client: pg.PoolClient, scope: FolderScope, folders: ChunkFolders, limits: IngestLimits): Promise<number> {
  const listed = listFolders(folders, scope.share);
  for (const { path, folder } of listed) checkFolder(path, folder.line, scope.pathStyle, limits);

  // Most folders of a rescan are stored already: sort them all first, then insert only
  // the missing ones, which costs far less than ON CONFLICT on every folder.
  const missing = await sortFolders(client, scope.share, listed);
  if (missing.length === 0) return 0;

  await client.query('SAVEPOINT chunk_folders');
  try {
    await client.query(INSERT_CHUNK_FOLDERS, insertParameters(scope, missing));
    await client.query('RELEASE SAVEPOINT chunk_folders');
    return missing.length;
  } catch (error) {
    if (sqlStateOf(error) !== SqlState.uniqueViolation) throw error;
    await client.query('ROLLBACK TO SAVEPOINT chunk_folders');
  }

  // Another upload of the share added some of them since the lookup. Insert the rest,
  // then sort the ones it added again, now seeing its commit, to check their paths.
  const inserted = await client.query(INSERT_CHUNK_FOLDERS_AFTER_RACE, insertParameters(scope, missing));
  const raced = await sortFolders(client, scope.share, missing);
  if (raced.length > 0) {
    throw new Error(`${raced.length} of ${missing.length} new folders of share ${scope.share} were neither inserted nor found`);
  }
  return inserted.rowCount ?? 0;
}

/** List the chunk's folders; raise when two of them share a hash. */
function listFolders(folders: ChunkFolders, share: string): Listed[] {
  const byHash = new Map<string, string>();
  const listed: Listed[] = [];
  for (const [path, folder] of folders) {
    const other = byHash.get(folder.hashText);
    if (other !== undefined) throw collision(share, path, other);
    byHash.set(folder.hashText, path);
    listed.push({ path, folder });
  }
  return listed;
}

/** Return the folders the share does not have yet; raise on a hash collision with a stored folder. */
async function sortFolders(client: pg.PoolClient, share: string, listed: Listed[]): Promise<Listed[]> {
  const { rows } = await client.query<{ missing: number[]; collided: number[] }>(SORT_CHUNK_FOLDERS, [
    share,
    listed.map((entry) => entry.folder.hashText),
    listed.map((entry) => entry.folder.check),
  ]);
  const { missing, collided } = rows[0]!;

  const first = collided[0];
  if (first !== undefined) {
    const { path, folder } = listed[first - 1]!;
    const stored = await client.query<{ dir_path: string }>(STORED_FOLDER_PATH, [share, folder.hashText]);
    throw collision(share, path, stored.rows[0]?.dir_path ?? '(unknown)');
  }
  return missing.map((position) => listed[position - 1]!);
}

function insertParameters(scope: FolderScope, missing: Listed[]): unknown[] {
  return [scope.tenantId, scope.share, missing.map((entry) => entry.path), missing.map((entry) => entry.folder.hashText)];
}

function collision(share: string, path: string, other: string): StrataError {
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
