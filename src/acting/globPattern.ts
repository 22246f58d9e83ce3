import { StrataError } from '../errors.ts';

export type PathStyle = 'windows' | 'posix';

/** Maximum glob length, in characters. Longer patterns are rejected, never cut. */
export const MAX_GLOB_CHARS = 1024;

/** Tell a Windows path (a drive letter or a UNC path) from a POSIX one. */
export function pathStyleOf(path: string): PathStyle {
  return /^[A-Za-z]:[\\/]|^\\\\/.test(path) ? 'windows' : 'posix';
}

/**
 * Build a PostgreSQL regular expression that matches the full path of a folder and of
 * everything under it, in the given path style. Every character of the folder is taken
 * literally. On Windows either separator matches `\` and case is ignored, as for globs.
 */
export function folderTreeRegex(folder: string, style: PathStyle): string {
  const sep = style === 'windows' ? '\\\\' : '/';
  const trimmed = folder.replace(style === 'windows' ? /[\\/]+$/ : /\/+$/, '');
  let regex = '';
  for (const char of trimmed) {
    const isSep = char === '/' || (style === 'windows' && char === '\\');
    if (isSep) {
      regex += sep;
    } else {
      regex += /[.^$*+?(){}[\]|\\-]/.test(char) ? `\\${char}` : char;
    }
  }
  return `${style === 'windows' ? '(?i)' : ''}^${regex}(${sep}.*)?$`;
}

/**
 * Translate a glob over a full source path into a PostgreSQL regular expression
 * (ARE syntax), anchored at both ends. `*` matches within one path segment, `**`
 * across segments (`**` followed by a separator also matches no folder at all), `?`
 * one character of a segment. On Windows shares `/` and `\` in the glob both match
 * the separator `\`, and matching ignores case, as the file system does; POSIX
 * matching is byte-exact.
 */
export function globToRegex(glob: string, style: PathStyle): string {
  if (glob === '' || glob.length > MAX_GLOB_CHARS) {
    throw StrataError.invalid('INVALID_GLOB', `glob ${JSON.stringify(glob.slice(0, 80))} must have 1 to ${MAX_GLOB_CHARS} characters`);
  }

  const sep = style === 'windows' ? '\\\\' : '/';
  const notSep = `[^${sep}]`;
  let regex = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i]!;
    const isSep = char === '/' || (style === 'windows' && char === '\\');

    if (char === '*' && glob[i + 1] === '*') {
      const next = glob[i + 2];
      const followedBySep = next === '/' || (style === 'windows' && next === '\\');
      regex += followedBySep ? `(.*${sep})?` : '.*';
      i += followedBySep ? 2 : 1;
    } else if (char === '*') {
      regex += `${notSep}*`;
    } else if (char === '?') {
      regex += notSep;
    } else if (isSep) {
      regex += sep;
    } else {
      regex += /[.^$+(){}[\]|\\-]/.test(char) ? `\\${char}` : char;
    }
  }
  return `${style === 'windows' ? '(?i)' : ''}^${regex}$`;
}
