/**
 * A small, strict RFC 4180 parser for reading chunk files back in tests. It is written
 * independently of the agent's writer so that a quoting bug cannot cancel itself out.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';

export interface CsvRow {
  values: string[];
  /** Whether each field was enclosed in double quotes. */
  quoted: boolean[];
}

/** Parses LF-terminated CSV; throws on a CR outside quotes, a stray quote or an open quote. */
export function parseCsv(text: string): CsvRow[] {
  const rows: CsvRow[] = [];
  let row: CsvRow = { values: [], quoted: [] };
  let field = '';
  let fieldQuoted = false;
  let inQuotes = false;

  const endField = (): void => {
    row.values.push(field);
    row.quoted.push(fieldQuoted);
    field = '';
    fieldQuoted = false;
  };

  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;

    if (inQuotes) {
      if (char !== '"') {
        field += char;
      } else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else {
        inQuotes = false;
      }
      continue;
    }

    if (char === '"') {
      if (field !== '' || fieldQuoted) {
        throw new Error(`Quote inside an unquoted field at offset ${i}`);
      }
      inQuotes = true;
      fieldQuoted = true;
    } else if (char === ',') {
      endField();
    } else if (char === '\n') {
      endField();
      rows.push(row);
      row = { values: [], quoted: [] };
    } else if (char === '\r') {
      throw new Error(`CR outside quotes at offset ${i}; chunks use LF line ends`);
    } else if (fieldQuoted) {
      throw new Error(`Text after a closing quote at offset ${i}`);
    } else {
      field += char;
    }
  }

  if (inQuotes) {
    throw new Error('Quoted field not closed at the end of the text');
  }
  if (field !== '' || fieldQuoted || row.values.length > 0) {
    throw new Error('Last row not terminated by LF');
  }
  return rows;
}

export function gunzipText(data: Buffer): string {
  return gunzipSync(data).toString('utf8');
}

export async function readChunkFile(filePath: string): Promise<CsvRow[]> {
  return parseCsv(gunzipText(await readFile(filePath)));
}
