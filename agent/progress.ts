/** Progress of a running scan, and its display on stderr. */

export type ScanPhase = 'opening' | 'walking' | 'uploading' | 'completing' | 'waiting' | 'done';

/** A snapshot of a running scan, passed to `onProgress`. */
export interface ScanProgress {
  scanGuid: string;
  phase: ScanPhase;
  files: number;
  dirs: number;
  unreadable: number;
  /** Symbolic links and other entries that are neither files nor folders. */
  skipped: number;
  /** Total size of the files scanned so far. */
  bytes: number;
  chunksWritten: number;
  chunksSent: number;
  elapsedSeconds: number;
}

/** Redraw interval on a terminal, in milliseconds. */
const TTY_INTERVAL_MS = 500;

/** Interval between lines when stderr is a file or pipe, in milliseconds, to keep logs short. */
const LOG_INTERVAL_MS = 10_000;

const numberFormat = new Intl.NumberFormat('en-US');

export function formatCount(value: number): string {
  return numberFormat.format(value);
}

/** Formats a count with its noun, e.g. "1 folder" or "2,500 folders". */
export function formatQuantity(value: number, singular: string, plural = `${singular}s`): string {
  return `${formatCount(value)} ${value === 1 ? singular : plural}`;
}

/** Formats a byte count with binary units, e.g. "1.5 GiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatProgressLine(progress: ScanProgress): string {
  const rate = progress.elapsedSeconds > 0 ? Math.round(progress.files / progress.elapsedSeconds) : 0;
  return (
    `${progress.phase}: ${formatQuantity(progress.files, 'file')} scanned (${formatCount(rate)}/s), ` +
    `chunks ${formatCount(progress.chunksSent)} sent / ${formatCount(progress.chunksWritten)} written, ` +
    `${formatCount(progress.unreadable)} unreadable`
  );
}

/**
 * Shows the latest progress on a stream: on a terminal one line redrawn in place every
 * 500 ms, otherwise a new line every 10 s.
 */
export class ProgressDisplay<T = ScanProgress> {
  readonly #stream: NodeJS.WriteStream;
  readonly #isTty: boolean;
  readonly #format: (progress: T) => string;
  #latest: T | undefined;
  #timer: NodeJS.Timeout | undefined;
  #drawn = false;

  /** `format` turns a snapshot into one line; the default formats a scan's progress. */
  constructor(stream: NodeJS.WriteStream, format?: (progress: T) => string) {
    this.#stream = stream;
    this.#format = format ?? (formatProgressLine as unknown as (progress: T) => string);
    this.#isTty = stream.isTTY === true;
  }

  update(progress: T): void {
    this.#latest = progress;
  }

  start(): void {
    this.#timer = setInterval(() => this.#draw(), this.#isTty ? TTY_INTERVAL_MS : LOG_INTERVAL_MS);

    // The display must not keep the process alive after the scan has ended.
    this.#timer.unref();
  }

  /** Stops the display; on a terminal the last state stays on screen, ended by a line feed. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#isTty && this.#drawn) {
      this.#draw();
      this.#stream.write('\n');
    }
  }

  #draw(): void {
    if (this.#latest === undefined) {
      return;
    }
    const line = this.#format(this.#latest);
    if (this.#isTty) {
      // \r returns to the line start and ESC [K clears what a longer earlier line left.
      this.#stream.write(`\r${line}\x1b[K`);
    } else {
      this.#stream.write(`${line}\n`);
    }
    this.#drawn = true;
  }
}
