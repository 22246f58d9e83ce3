import type { PathStyle } from './globPattern.ts';

/**
 * Map a file to its Tier-2 key: the share name, then the path's segments, each
 * percent-encoded so that `/`, `%` and any other byte survive. Windows drive letters
 * keep their colon encoded (`D%3A`).
 *
 * TODO: replace with `tier2Key` from src/acting/tier2Key.ts once that module lands; it
 * also handles lone surrogates, over-long keys and Windows name rewriting. The one
 * caller is src/acting/assignTier2Keys.ts.
 */
export function tier2Key(share: string, dirPath: string, name: string, style: PathStyle): string {
  const separator = style === 'windows' ? '\\' : '/';
  const segments = dirPath.split(separator).filter((segment) => segment !== '');
  return [share, ...segments, name].map((segment) => encodeURIComponent(segment)).join('/');
}
