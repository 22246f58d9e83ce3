import { parquetWriteBuffer } from 'hyparquet-writer';

/** One Parquet column for hyparquet-writer: STRING is a UTF8-annotated byte array, BYTE_ARRAY has no annotation. */
export interface ParquetColumn {
  name: string;
  data: unknown[];
  type: 'STRING' | 'BYTE_ARRAY' | 'INT64' | 'INT32';
}

export function parquet(columns: ParquetColumn[]): Buffer {
  return Buffer.from(parquetWriteBuffer({ columnData: columns as never }));
}

/** Build the six required columns for the given rows, with names and folders as UTF-8 strings. */
export function fileColumns(rows: { dir: string; name: string; size: bigint }[]): ParquetColumn[] {
  return [
    { name: 'dir_path', data: rows.map((row) => row.dir), type: 'STRING' },
    { name: 'name', data: rows.map((row) => row.name), type: 'STRING' },
    { name: 'size_bytes', data: rows.map((row) => row.size), type: 'INT64' },
    { name: 'atime_unix', data: rows.map(() => 1_600_000_000n), type: 'INT64' },
    { name: 'mtime_unix', data: rows.map(() => 1_600_000_001n), type: 'INT64' },
    { name: 'ctime_unix', data: rows.map(() => 1_500_000_000n), type: 'INT64' },
  ];
}
