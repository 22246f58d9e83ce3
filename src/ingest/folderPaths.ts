/**
 * Folder paths as the server stores them. A folder is identified within its share by
 * its canonical path: the Win32 long-path prefix is dropped, so `\\?\C:\x` is `C:\x` and
 * `\\?\UNC\server\share\x` is `\\server\share\x`, and a file reported in both forms is
 * one file. The database derives the same form in `file.dir_hash` (CANONICAL_DIR_SQL).
 */

export type PathStyle = 'windows' | 'posix';

/** Return the canonical form of a folder path as sent. */
export function canonicalFolder(path: string): string {
  if (!path.startsWith('\\\\?\\')) return path;
  if (path.startsWith('\\\\?\\UNC\\')) return `\\${path.slice(7)}`;
  return path.slice(4);
}

const DRIVE_ROOT = /^[A-Za-z]:\\/;
const UNC_ROOT = /^\\\\[^\\/]+\\[^\\/]+/;

/**
 * Return why a canonical folder path is invalid for its style, or undefined when it is valid.
 * It must be absolute, without a trailing separator (except a drive root), without `.`
 * or `..` segments and without doubled separators. A segment that starts with `/` is an
 * escaped name: bytes that are not UTF-8, written as `%XX` (see src/wire/). POSIX paths
 * show it as `//` and Windows paths as `\/`.
 */
export function folderPathProblem(path: string, style: PathStyle): string | undefined {
  return style === 'windows' ? windowsProblem(path) : posixProblem(path);
}

function windowsProblem(path: string): string | undefined {
  if (!DRIVE_ROOT.test(path) && !UNC_ROOT.test(path)) return 'a Windows folder must start with a drive (C:\\) or a UNC share (\\\\server\\share)';
  if (path.endsWith('\\') && !/^[A-Za-z]:\\$/.test(path)) return 'a folder must not end with a separator';
  if (path.slice(1).includes('\\\\')) return 'a folder must not contain doubled separators';
  if (`${path}\\`.includes('\\.\\') || `${path}\\`.includes('\\..\\')) return 'a folder must not contain "." or ".." segments';
  if (path.replaceAll('\\/', '').includes('/')) return 'a Windows folder must use "\\" as its separator';
  return undefined;
}

function posixProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'a POSIX folder must start with "/"';
  if (path !== '/' && path.endsWith('/')) return 'a folder must not end with a separator';
  if (path.includes('///')) return 'a folder must not contain doubled separators';
  if (`${path}/`.includes('/./') || `${path}/`.includes('/../')) return 'a folder must not contain "." or ".." segments';
  return undefined;
}
