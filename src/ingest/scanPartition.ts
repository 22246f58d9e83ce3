/** Return the name of the partition of `file` that stores one scan's rows (made by `create_scan_partition`). */
export function scanPartition(scanId: number | string): string {
  const id = String(scanId);
  if (!/^[1-9][0-9]{0,18}$/.test(id)) throw new Error(`invalid scan id ${id}`);
  return `file_s${id}`;
}
