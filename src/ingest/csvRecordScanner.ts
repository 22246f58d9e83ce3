import { Transform, type TransformCallback } from 'node:stream';
import { StrataError } from '../errors.ts';
import { headerFieldNames, MAX_HEADER_BYTES } from './chunkHeader.ts';
import { Utf8Validator } from './utf8Validator.ts';

const QUOTE = 0x22;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const CARRIAGE_RETURN = 0x0d;
const COMMA = 0x2c;
const NUL = 0x00;

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Pass CSV bytes through while counting records outside quoted fields, and reject what
 * PostgreSQL's COPY would silently mishandle. A line holding only `\.` is COPY's
 * end-of-data marker even in CSV mode: the rows after it would be dropped without an
 * error. The record count also stops an over-long chunk before COPY has read it all.
 *
 * It also rejects NUL bytes and invalid UTF-8 with the line and the column. COPY rejects
 * them too, but its encoding check names only the line.
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
  /** Offset in the buffer being scanned where the latest record started, or -1. */
  private recordStart = -1;
  /** Field of the current record (0-based) at the end of the bytes scanned so far. */
  private field = 0;
  /** The first bytes of the chunk, kept until the header line is complete to name columns in errors. */
  private headerBytes: Buffer[] = [];
  private headerLength = 0;
  /** Bytes of the chunk before the buffer being scanned. */
  private bytesBefore = 0;
  private readonly utf8 = new Utf8Validator();
  /** Bytes of the current record in earlier buffers. */
  private carriedRecordBytes = 0;
  /** Offset in the buffer being scanned where the current record's bytes in it start. */
  private segmentStart = 0;

  /**
   * `maxRecordBytes` bounds one record, so that a single endless field is rejected as
   * it streams instead of being buffered and re-read by the stages after this one.
   */
  constructor(
    private readonly maxRows: number,
    private readonly maxRecordBytes: number = Number.MAX_SAFE_INTEGER,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.keepHeaderBytes(chunk);
      const bad = this.findBadByte(chunk);
      if (bad) {
        // Scan up to the bad byte so that the line and field counts point at it.
        this.scan(chunk.subarray(0, bad.offset));
        throw this.badByteError(bad.byte, this.bytesBefore + bad.offset);
      }
      this.scan(chunk);
      this.bytesBefore += chunk.length;
      callback(null, chunk);
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.marker.length > 0) this.checkMarkerEnd(true);
      if (this.utf8.endsInsideCharacter()) throw this.byteError('the value ends inside a UTF-8 character (the chunk is cut short)');
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
    const startsInQuotes = this.inQuotes;
    this.recordStart = -1;
    this.segmentStart = 0;
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
        i = nextNewline + 1;
        if (!this.inQuotes) this.endRecordAt(i);
        this.physicalLine++;
        this.atLineStart = !this.inQuotes;
        if (!this.inQuotes) {
          this.countRecord();
          this.recordStart = i;
        }
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
    this.carriedRecordBytes += length - this.segmentStart;
    this.checkRecordLength(this.carriedRecordBytes);

    // Only the bytes after the last record start are walked one by one: error messages
    // need the field a bad byte sits in, and a per-comma count would slow every row.
    this.field = this.recordStart >= 0
      ? countFields(chunk, this.recordStart, false, 0)
      : countFields(chunk, 0, startsInQuotes, this.field);
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
        this.endRecordAt(i);
        this.physicalLine++;
        this.countRecord();
        this.recordStart = i;
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

  /** The first NUL byte or invalid UTF-8 in the buffer, if any. */
  private findBadByte(chunk: Buffer): { offset: number; byte: number } | undefined {
    const nul = chunk.indexOf(NUL);
    const invalid = this.utf8.check(chunk);
    if (nul >= 0 && (invalid === undefined || nul < invalid.offset)) return { offset: nul, byte: NUL };
    return invalid;
  }

  /** Build the error for a bad byte. `chunkOffset` counts from the start of the decompressed chunk. */
  private badByteError(byte: number, chunkOffset: number): StrataError {
    const hex = `0x${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    if (chunkOffset === 0 && (byte === 0xff || byte === 0xfe)) {
      // FF FE and FE FF are the UTF-16LE and UTF-16BE byte order marks.
      return this.byteError(`the chunk starts with byte ${hex}, as a UTF-16 byte order mark does; chunks must be UTF-8`);
    }
    if (byte === NUL && this.records === 0) {
      return this.byteError('the header contains a NUL byte, as UTF-16 text does; chunks must be UTF-8');
    }
    if (byte === NUL) return this.byteError('the value contains a NUL byte');
    return this.byteError(`the value is not valid UTF-8 (byte ${hex}); chunks must be UTF-8`);
  }

  /** Build an error at the current line and field, naming the column from the header line when it is complete. */
  private byteError(problem: string): StrataError {
    const line = this.physicalLine;
    if (this.records === 0) {
      return StrataError.invalid('INVALID_CHUNK_ROW', `chunk rejected at line ${line} (the header): ${problem}; no row of this chunk was kept`, { line });
    }
    const column = this.headerNames()[this.field];
    const place = column === undefined ? `field ${this.field + 1}` : `column ${column}`;
    return StrataError.invalid('INVALID_CHUNK_ROW', `chunk rejected at line ${line}, ${place}: ${problem}; no row of this chunk was kept`, {
      line,
      column,
    });
  }

  private keepHeaderBytes(chunk: Buffer): void {
    if (this.records > 0 || this.headerLength >= MAX_HEADER_BYTES) return;
    const kept = chunk.subarray(0, MAX_HEADER_BYTES - this.headerLength);
    this.headerBytes.push(kept);
    this.headerLength += kept.length;
  }

  private headerStart(): Buffer {
    return Buffer.concat(this.headerBytes);
  }

  /** Return the column names of the header line as sent. readChunkHeader checks them later. */
  private headerNames(): string[] {
    let bytes = this.headerStart();
    if (bytes.subarray(0, 3).equals(UTF8_BOM)) bytes = bytes.subarray(3);
    const newline = bytes.indexOf(NEWLINE);
    const line = bytes.subarray(0, newline < 0 ? bytes.length : newline).toString('utf8').replace(/\r$/, '');
    return headerFieldNames(line);
  }

  private markerError(): StrataError {
    return StrataError.invalid(
      'INVALID_CHUNK_ROW',
      `chunk rejected at line ${this.physicalLine}: a line holding only \\. would end the data early; quote the field; no row of this chunk was kept`,
      { line: this.physicalLine },
    );
  }

  /** Check the length of the record whose line feed ends just before `offset`, and start the next one there. */
  private endRecordAt(offset: number): void {
    this.checkRecordLength(this.carriedRecordBytes + (offset - this.segmentStart));
    this.carriedRecordBytes = 0;
    this.segmentStart = offset;
  }

  private checkRecordLength(bytes: number): void {
    if (bytes <= this.maxRecordBytes) return;
    throw StrataError.invalid(
      'LIMIT_EXCEEDED',
      `chunk rejected at line ${this.physicalLine}: the record is longer than ${this.maxRecordBytes} bytes, more than STRATA_MAX_PATH_CHARS and STRATA_MAX_NAME_CHARS allow for one file; no row of this chunk was kept`,
      { line: this.physicalLine, limit: 'STRATA_MAX_PATH_CHARS' },
    );
  }

  private countRecord(): void {
    this.records++;
    if (this.records - 1 > this.maxRows) {
      throw StrataError.tooLarge('STRATA_MAX_CHUNK_ROWS', `chunk has more than ${this.maxRows} rows (STRATA_MAX_CHUNK_ROWS)`);
    }
  }
}

/**
 * Count the field separators from `start` to the end of `chunk`, for bytes that belong
 * to one record. Returns the field index (0-based) at the end.
 */
function countFields(chunk: Buffer, start: number, inQuotes: boolean, field: number): number {
  let quoted = inQuotes;
  let count = field;
  for (let i = start; i < chunk.length; i++) {
    const byte = chunk[i];
    if (byte === QUOTE) quoted = !quoted;
    else if (byte === COMMA && !quoted) count++;
  }
  return count;
}
