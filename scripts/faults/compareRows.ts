/** Comparison of the rows each scan sent with the rows stored for it. */
import type { StoredScan } from './storedRows.ts';

export interface ScanComparison {
  scanGuid: string;
  /** Status of the scan on the server; `MISSING` when the server has no such scan. */
  status: string;
  sent: number;
  stored: number;
  /** Sent rows with no stored row of the same folder and name. */
  lost: number;
  /** Stored rows beyond the first of each (folder, name). */
  duplicated: number;
  /** Distinct stored (folder, name) keys that were never sent, such as a row filed under the wrong folder. */
  unexpected: number;
}

/** Compare one scan; `stored` is undefined when the server has no scan of that GUID. */
export function compareScan(scanGuid: string, sentKeys: ReadonlySet<string>, stored: StoredScan | undefined): ScanComparison {
  const storedKeys = stored?.keys ?? [];
  const distinct = new Set(storedKeys);

  let lost = 0;
  for (const key of sentKeys) {
    if (!distinct.has(key)) lost++;
  }
  let unexpected = 0;
  for (const key of distinct) {
    if (!sentKeys.has(key)) unexpected++;
  }

  return {
    scanGuid,
    status: stored?.status ?? 'MISSING',
    sent: sentKeys.size,
    stored: storedKeys.length,
    lost,
    duplicated: storedKeys.length - distinct.size,
    unexpected,
  };
}

export interface ComparisonTotals {
  sent: number;
  stored: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  /** Scans whose status is anything but OK. */
  notOk: number;
}

export function sumComparisons(scans: readonly ScanComparison[]): ComparisonTotals {
  const totals: ComparisonTotals = { sent: 0, stored: 0, lost: 0, duplicated: 0, unexpected: 0, notOk: 0 };
  for (const scan of scans) {
    totals.sent += scan.sent;
    totals.stored += scan.stored;
    totals.lost += scan.lost;
    totals.duplicated += scan.duplicated;
    totals.unexpected += scan.unexpected;
    if (scan.status !== 'OK') totals.notOk++;
  }
  return totals;
}
