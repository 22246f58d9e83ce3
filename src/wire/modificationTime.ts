/**
 * Seconds two modification times may differ by and still count as the same. FAT keeps
 * file times to 2 seconds, so a copy through it rounds them, and Robocopy's manual
 * gives the same 2-second leeway for that reason.
 */
export const MTIME_WINDOW_SECONDS = 2;

/** A daylight-saving change, by which FAT times (stored in local time) jump as a whole. */
export const DST_SHIFT_SECONDS = 3600;

/**
 * Tell whether a file's modification time shows a real change since it was scanned.
 * A difference within the 2-second window is FAT rounding. A difference of one hour,
 * give or take that window, is a daylight-saving switch seen through a volume that
 * stores local time (FAT) rather than UTC (NTFS); FreeFileSync's help describes it.
 * Neither counts as a change.
 *
 * NOTE: use it only to compare a scan with a later look at the same file. While copying
 * a file out, any change between the start and the end of the copy counts.
 */
export function mtimeChanged(scannedUnix: number, currentUnix: number): boolean {
  const difference = Math.abs(currentUnix - scannedUnix);
  if (difference <= MTIME_WINDOW_SECONDS) {
    return false;
  }
  return Math.abs(difference - DST_SHIFT_SECONDS) > MTIME_WINDOW_SECONDS;
}
