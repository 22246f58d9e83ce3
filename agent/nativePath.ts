/**
 * Paths of the folders and files the walk visits, in two forms: the one the agent
 * passes to the file system, and the canonical one it reports in `dir_path`.
 *
 * The functions are pure and take the platform as a parameter, so the Windows forms can
 * be tested on any host. Names are appended as the listing returned them: nothing here
 * resolves or normalises a name, because Windows path normalisation drops trailing dots
 * and spaces (`notes.` would become `notes`) and maps `CON.txt` to a device.
 */
import path from 'node:path';

import type { PathStyle } from '../src/wire/contract.ts';
import { joinWirePath, type EntryName } from './escapedName.ts';

/** A folder of the walk. */
export interface WalkDir {
  /**
   * Path passed to the file system. On Windows it has the `\\?\` or `\\?\UNC\` prefix,
   * which turns off Win32 normalisation and the 260-character limit. It is a Buffer once
   * a segment of it is not valid UTF-8, so the raw bytes reach the file system unchanged.
   */
  fsPath: string | Buffer;
  /** Canonical path reported in `dir_path`: `C:\x`, `\\server\share\x` or `/x`, escaped segments included. */
  wirePath: string;
}

const WIN32_VERBATIM_PREFIX = '\\\\?\\';
const WIN32_VERBATIM_UNC_PREFIX = '\\\\?\\UNC\\';

export function pathStyleOf(platform: NodeJS.Platform): PathStyle {
  return platform === 'win32' ? 'windows' : 'posix';
}

/**
 * Returns the walk's root folder. The root comes from the command line, so it is made
 * absolute here; on Windows a root that already has the `\\?\` prefix is kept verbatim
 * and only its prefix is dropped from the reported form.
 */
export function rootWalkDir(root: string, platform: NodeJS.Platform): WalkDir {
  if (platform !== 'win32') {
    const resolved = path.posix.resolve(root);
    return { fsPath: resolved, wirePath: resolved };
  }

  if (root.startsWith(WIN32_VERBATIM_UNC_PREFIX)) {
    const fsPath = trimWin32TrailingSeparator(root);
    return { fsPath, wirePath: `\\\\${fsPath.slice(WIN32_VERBATIM_UNC_PREFIX.length)}` };
  }
  if (root.startsWith(WIN32_VERBATIM_PREFIX)) {
    const fsPath = trimWin32TrailingSeparator(root);
    return { fsPath, wirePath: fsPath.slice(WIN32_VERBATIM_PREFIX.length) };
  }

  // NOTE: resolving also turns `/` into `\` and folds `.` and `..` segments of the root
  // as typed. A root whose own last segment ends in a dot or space must be given with
  // the `\\?\` prefix to keep it.
  const resolved = path.win32.resolve(root);
  if (resolved.startsWith('\\\\')) {
    return { fsPath: `${WIN32_VERBATIM_UNC_PREFIX}${resolved.slice(2)}`, wirePath: resolved };
  }
  return { fsPath: `${WIN32_VERBATIM_PREFIX}${resolved}`, wirePath: resolved };
}

/** Returns the subfolder `name` of `parent`. */
export function childWalkDir(parent: WalkDir, name: EntryName, platform: NodeJS.Platform): WalkDir {
  return {
    fsPath: childFsPath(parent.fsPath, name, platform),
    wirePath: joinWirePath(parent.wirePath, name.wire, pathStyleOf(platform)),
  };
}

/**
 * Returns the text that goes before a plain name to form the path of an entry in the
 * folder at `parentFsPath`, or undefined for a Buffer path. The walk computes it once
 * per folder instead of calling childFsPath for every file.
 */
export function fsPathPrefix(parentFsPath: string | Buffer, platform: NodeJS.Platform): string | undefined {
  if (typeof parentFsPath !== 'string') {
    return undefined;
  }
  const separator = platform === 'win32' ? '\\' : '/';
  return parentFsPath.endsWith(separator) ? parentFsPath : `${parentFsPath}${separator}`;
}

/** Returns the file-system path of entry `name` in the folder at `parentFsPath`. */
export function childFsPath(parentFsPath: string | Buffer, name: EntryName, platform: NodeJS.Platform): string | Buffer {
  const prefix = fsPathPrefix(parentFsPath, platform);
  if (prefix !== undefined && name.raw === undefined) {
    return `${prefix}${name.wire}`;
  }

  const separator = platform === 'win32' ? '\\' : '/';

  // NOTE: on Windows this relies on libuv turning WTF-8 Buffer paths back into the same
  // UTF-16 names, lone surrogates included; that is tested here with Windows inputs on
  // Linux only.
  const parent = typeof parentFsPath === 'string' ? Buffer.from(parentFsPath, 'utf8') : parentFsPath;
  const nameBytes = name.raw ?? Buffer.from(name.wire, 'utf8');
  const separatorByte = separator.charCodeAt(0);
  const parts = parent.at(-1) === separatorByte ? [parent, nameBytes] : [parent, Buffer.of(separatorByte), nameBytes];
  return Buffer.concat(parts);
}

/** Drops a trailing `\` except where it is part of a root such as `\\?\C:\`. */
function trimWin32TrailingSeparator(fsPath: string): string {
  if (!fsPath.endsWith('\\') || /^\\\\\?\\[A-Za-z]:\\$/.test(fsPath)) {
    return fsPath;
  }
  return fsPath.slice(0, -1);
}
