import { Transform, type TransformCallback } from 'node:stream';
import { StrataError } from '../errors.ts';

const QUOTE = 0x22;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const CARRIAGE_RETURN = 0x0d;

/**
 * Pass CSV bytes through while counting records outside quoted fields, and reject what
 * PostgreSQL's COPY would silently mishandle. A line holding only `\.` is COPY's
 * end-of-data marker even in CSV mode: the rows after it would be dropped without an
 * error. The record count also stops an over-long chunk before COPY has read it all.
 */
export class CsvRecordScanner extends Transform {
  /** Records seen so far, the header line included. */
  records = 0;
  private physicalLine = 1;
  private inQuotes = false;
  private atLineStart = true;
  /** Bytes of a possible `\.` line seen at the end of the previous buffer. */
  private marker: number[] = [];
  private lastByte = NEWLINE;

  constructor(private readonly maxRows: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.scan(chunk);
      callback(null, chunk);
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.marker.length > 0) this.checkMarkerEnd(true);
      if (this.lastByte !== NEWLINE) this.countRecord();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  /**
   * Walk the buffer with native `indexOf` jumps between quotes and line feeds. Only a
   * line that starts with a backslash has its first bytes read one at a time.
   */
  private scan(chunk: Buffer): void {
    const length = chunk.length;
    let i = 0;
    let nextQuote = -2;
    let nextNewline = -2;

    while (i < length) {
      if (this.marker.length > 0 || (this.atLineStart && !this.inQuotes && chunk[i] === BACKSLASH)) {
        i = this.followMarker(chunk, i);
        continue;
      }

      if (nextQuote !== -1 && nextQuote < i) nextQuote = chunk.indexOf(QUOTE, i);
      if (nextNewline !== -1 && nextNewline < i) nextNewline = chunk.indexOf(NEWLINE, i);

      if (nextNewline !== -1 && (nextQuote === -1 || nextNewline < nextQuote)) {
        // A line feed comes first: it ends a record unless it sits inside quotes.
        this.physicalLine++;
        this.atLineStart = !this.inQuotes;
        if (!this.inQuotes) this.countRecord();
        i = nextNewline + 1;
      } else if (nextQuote !== -1) {
        this.inQuotes = !this.inQuotes;
        this.atLineStart = false;
        i = nextQuote + 1;
      } else {
        this.atLineStart = false;
        i = length;
      }
    }
    if (length > 0) this.lastByte = chunk[length - 1]!;
  }

  /** Feed bytes of a possible `\.` line to the marker check; return where normal scanning resumes. */
  private followMarker(chunk: Buffer, start: number): number {
    let i = start;
    while (i < chunk.length) {
      const byte = chunk[i]!;
      this.marker.push(byte);
      this.checkMarkerEnd(false);
      i++;

      if (byte === NEWLINE) {
        // The marker check rejected a \. line already; any other line simply ended.
        this.physicalLine++;
        this.countRecord();
        this.marker = [];
        this.atLineStart = true;
        return i;
      }
      if (byte === QUOTE) this.inQuotes = !this.inQuotes;
      if (this.marker.length === 0) {
        this.atLineStart = false;
        return i;
      }
    }
    this.atLineStart = false;
    return i;
  }

  /**
   * Decide whether the bytes gathered at a line start form a `\.` line: a backslash
   * and a dot, then a line end (LF or CRLF) or the end of the chunk. `atEnd` is true
   * when no more bytes will come.
   */
  private checkMarkerEnd(atEnd: boolean): void {
    const [, second, third, fourth] = this.marker;
    const length = this.marker.length;

    const stillPossible =
      length === 1 ||
      (length === 2 && second === DOT) ||
      (length === 3 && second === DOT && third === CARRIAGE_RETURN);
    const complete =
      (length === 3 && second === DOT && third === NEWLINE) ||
      (length === 4 && second === DOT && third === CARRIAGE_RETURN && fourth === NEWLINE);

    if (complete || (atEnd && length >= 2 && stillPossible)) throw this.markerError();
    if (!stillPossible) this.marker = [];
  }

  private markerError(): StrataError {
    return StrataError.invalid(
      'INVALID_CHUNK_ROW',
      `chunk rejected at line ${this.physicalLine}: a line holding only \\. would end the data early; quote the field; no row of this chunk was kept`,
      { line: this.physicalLine },
    );
  }

  private countRecord(): void {
    this.records++;
    if (this.records - 1 > this.maxRows) {
      throw StrataError.tooLarge('STRATA_MAX_CHUNK_ROWS', `chunk has more than ${this.maxRows} rows (STRATA_MAX_CHUNK_ROWS)`);
    }
  }
}
