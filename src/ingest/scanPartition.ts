/** Return the name of the partition of `file` that stores one scan's rows (made by `create_scan_partition`). */
export function scanPartition(scanId: number | string): string {
  return `file_s${checkedScanId(scanId)}`;
}

/** Return the name of the partition of `scan_dir` that stages one scan's folders (made by `create_scan_partition`). */
export function scanFoldersPartition(scanId: number | string): string {
  return `scan_dir_s${checkedScanId(scanId)}`;
}

function checkedScanId(scanId: number | string): string {
  const id = String(scanId);
  if (!/^[1-9][0-9]{0,18}$/.test(id)) throw new Error(`invalid scan id ${id}`);
  return id;
}
