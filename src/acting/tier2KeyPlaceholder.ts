import type { PathStyle } from '../ingest/folderPaths.ts';

/** One source file as the database stores it. */
export interface SourceFile {
  shareName: string;
  pathStyle: PathStyle;
  dirPath: string;
  name: string;
}

/** A file's Tier-2 key, and the full key when `key` had to be shortened. */
export interface MappedKey {
  key: string;
  fullKey: string;
  hashed: boolean;
}

/**
 * Map a file to its Tier-2 key: the share name, then the path's segments, each
 * percent-encoded so that `/`, `%` and any other character survive. A Windows drive
 * letter keeps its colon encoded (`D%3A`).
 *
 * TODO: replace with `tier2KeyFor` from src/acting/tier2Key.ts once that module is on
 * this branch. It has the same signature and also handles lone surrogates, over-long
 * keys and Windows name rewriting. The one caller is src/acting/assignTier2Keys.ts.
 */
export function tier2KeyFor(file: SourceFile): MappedKey {
  const separator = file.pathStyle === 'windows' ? '\\' : '/';
  const segments = file.dirPath.split(separator).filter((segment) => segment !== '');
  const key = [file.shareName, ...segments, file.name].map((segment) => encodeURIComponent(segment)).join('/');
  return { key, fullKey: key, hashed: false };
}
