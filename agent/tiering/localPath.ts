/**
 * Turns a claimed file's folder and name, as the scan reported them, back into the
 * path the agent passes to the file system, and names the temporary files beside it.
 */
import { isEscapedName } from '../../src/wire/escapedName.ts';
import type { PathStyle } from '../../src/wire/contract.ts';
import { decodeName, decodeWireDirPath } from '../escapedName.ts';
import { pathStyleOf } from '../nativePath.ts';
import { tempNameFor, type TempPurpose } from './tempNames.ts';

/** Paths of one claimed file on this host. */
export interface LocalFile {
  /** The file itself. A Buffer when a segment is not valid UTF-8, so its bytes reach the file system unchanged. */
  path: string | Buffer;
  /** Its folder, for flushing a rename. */
  folder: string | Buffer;
  /** The bytes of the file's name, from which the temporary names are derived. */
  nameBytes: Uint8Array;
}

const WIN32_VERBATIM_PREFIX = '\\\\?\\';
const WIN32_VERBATIM_UNC_PREFIX = '\\\\?\\UNC\\';

/**
 * Resolves the folder and name of a claim. On Windows the path gets the `\\?\` prefix,
 * as in the scan, so that `notes.`, `notes ` and `CON.txt` name those exact files and
 * never a device or another file.
 */
export function resolveLocalFile(dirPath: string, name: string, platform: NodeJS.Platform = process.platform): LocalFile {
  const style: PathStyle = pathStyleOf(platform);
  const separator = style === 'windows' ? '\\' : '/';
  const nameBytes = decodeName(name);

  const plain = !isEscapedName(name) && !dirPath.split(separator).some((segment) => isEscapedName(segment));
  const folderText = style === 'windows' ? toVerbatim(dirPath) : dirPath;
  if (plain) {
    const prefix = folderText.endsWith(separator) ? folderText : `${folderText}${separator}`;
    return { path: `${prefix}${name}`, folder: folderText, nameBytes };
  }

  const folderBytes = Buffer.from(style === 'windows' ? prefixBytes(dirPath, decodeWireDirPath(dirPath, style)) : decodeWireDirPath(dirPath, style));
  const separatorByte = separator.charCodeAt(0);
  const parts = folderBytes.at(-1) === separatorByte ? [folderBytes, nameBytes] : [folderBytes, Buffer.of(separatorByte), nameBytes];
  return { path: Buffer.concat(parts), folder: folderBytes, nameBytes };
}

/** Returns the path of the temporary file for `purpose` beside `file`. */
export function tempPathFor(file: LocalFile, purpose: TempPurpose, platform: NodeJS.Platform = process.platform): string | Buffer {
  const separator = platform === 'win32' ? '\\' : '/';
  const tempName = tempNameFor(purpose, file.nameBytes);
  if (typeof file.folder === 'string') {
    return file.folder.endsWith(separator) ? `${file.folder}${tempName}` : `${file.folder}${separator}${tempName}`;
  }
  const separatorByte = separator.charCodeAt(0);
  const parts = file.folder.at(-1) === separatorByte ? [file.folder, Buffer.from(tempName)] : [file.folder, Buffer.of(separatorByte), Buffer.from(tempName)];
  return Buffer.concat(parts);
}

/** `C:\x` becomes `\\?\C:\x` and `\\srv\share\x` becomes `\\?\UNC\srv\share\x`. */
function toVerbatim(dirPath: string): string {
  if (dirPath.startsWith(WIN32_VERBATIM_PREFIX)) {
    return dirPath;
  }
  return dirPath.startsWith('\\\\') ? `${WIN32_VERBATIM_UNC_PREFIX}${dirPath.slice(2)}` : `${WIN32_VERBATIM_PREFIX}${dirPath}`;
}

function prefixBytes(dirPath: string, decoded: Uint8Array): Uint8Array {
  const prefix = dirPath.startsWith('\\\\') ? Buffer.from(WIN32_VERBATIM_UNC_PREFIX) : Buffer.from(WIN32_VERBATIM_PREFIX);
  const body = dirPath.startsWith('\\\\') ? decoded.subarray(2) : decoded;
  return Buffer.concat([prefix, body]);
}
