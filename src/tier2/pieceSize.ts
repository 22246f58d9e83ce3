/**
 * Return the piece size for a body uploaded in pieces: `minimum`, or more for a body so
 * large that `minimum` would need over `maxPieces` pieces, rounded up to whole MiB.
 */
export function pieceBytesFor(sizeBytes: number, minimum: number, maxPieces: number): number {
  const mebibyte = 1024 * 1024;
  return Math.max(minimum, Math.ceil(sizeBytes / maxPieces / mebibyte) * mebibyte);
}
