/**
 * Marking stubs offline (FILE_ATTRIBUTE_OFFLINE) on Windows, so Explorer and backup
 * tools treat them as placeholders. Node's fs cannot set Windows attributes, so one
 * Windows PowerShell helper per act run does it (offlineHelperScript.ts). Starting a
 * process per stub would cost more than the stub itself.
 *
 * Other platforms have no such attribute, and their stubs stay plain files.
 *
 * NOTE: the helper was tested only against a fake that speaks its protocol, on Linux,
 * never against powershell.exe on Windows.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { decodeWtf8 } from '../wtf8.ts';
import { powerShellArguments } from './offlineHelperScript.ts';

/** Sets the offline attribute of finished stubs. */
export interface OfflineMarker {
  /** Marks the stub at `filePath` offline. Rejects when the helper reports a failure or has stopped. */
  mark(filePath: string | Buffer): Promise<void>;
  /** Ends the helper, if one was started, and waits for it to exit; one that does not is killed. */
  close(): Promise<void>;
}

/** Error of a helper that takes no more requests, because it failed to start, exited, timed out or was closed. */
export class OfflineMarkerStoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OfflineMarkerStoppedError';
  }
}

/** Marker for platforms without an offline attribute: marks nothing. */
export const NO_OFFLINE_MARKER: OfflineMarker = {
  mark: async () => undefined,
  close: async () => undefined,
};

/**
 * Maximum wait for one reply, in milliseconds, counted from the request or from the
 * reply before it. The first reply also waits for PowerShell to start and for Add-Type
 * to compile the helper, which may take seconds on a busy server with on-access virus
 * scanning. NOTE: an estimate, not measured on Windows.
 */
export const DEFAULT_REPLY_TIMEOUT_MS = 60_000;

/**
 * Wait in milliseconds, during close, between asking a helper to stop and forcing it, and
 * then for its output pipes to close after it exited. A process the helper started may
 * keep the pipes open after the helper itself exited.
 */
export const DEFAULT_CLOSE_GRACE_MS = 5_000;

/** Characters of the helper's stderr kept for error messages. */
const STDERR_TAIL_CHARS = 2000;

export interface OfflineHelperOptions {
  /** Program to start; powershell.exe from the Windows folder by default. Tests start a fake. */
  command?: string;
  /** Its arguments; those that run the offline script by default. */
  args?: string[];
  replyTimeoutMs?: number;
  closeGraceMs?: number;
}

/** Returns the marker for `platform`: the PowerShell helper on Windows, else one that marks nothing. */
export function createOfflineMarker(platform: NodeJS.Platform = process.platform, options: OfflineHelperOptions = {}): OfflineMarker {
  return platform === 'win32' ? new OfflineHelperMarker(options) : NO_OFFLINE_MARKER;
}

/**
 * Returns the full path of Windows PowerShell 5.1. A bare `powershell.exe` would do, but
 * libuv looks for a bare program name in the current folder before PATH, where anyone
 * who may write to that folder could put another program.
 */
export function windowsPowerShellPath(env: NodeJS.ProcessEnv = process.env): string {
  const windowsFolder = env.SystemRoot ?? env.windir ?? 'C:\\Windows';
  return path.win32.join(windowsFolder, 'System32', 'WindowsPowerShell', 'v1.0', 'powershell.exe');
}

/** Returns the helper's request line for a path: base64 of its UTF-16LE code units. */
export function encodeMarkRequest(filePath: string | Buffer): string {
  // A Buffer path contains WTF-8, the form libuv turns back into the same UTF-16 name.
  const text = typeof filePath === 'string' ? filePath : decodeWtf8(filePath);
  return Buffer.from(text, 'utf16le').toString('base64');
}

interface PendingMark {
  filePath: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The PowerShell helper, started on the first mark. Requests are written as they come,
 * so several are in flight at once, and the helper replies to them in order.
 */
export class OfflineHelperMarker implements OfflineMarker {
  readonly #command: string;
  readonly #args: string[];
  readonly #replyTimeoutMs: number;
  readonly #closeGraceMs: number;
  #child: ChildProcessWithoutNullStreams | undefined;
  #closed: Promise<void> | undefined;
  readonly #pending: PendingMark[] = [];
  #stopped: OfflineMarkerStoppedError | undefined;
  #closing = false;
  #timer: NodeJS.Timeout | undefined;
  #stderrTail = '';

  constructor(options: OfflineHelperOptions = {}) {
    this.#command = options.command ?? windowsPowerShellPath();
    this.#args = options.args ?? powerShellArguments();
    this.#replyTimeoutMs = options.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS;
    this.#closeGraceMs = options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  }

  async mark(filePath: string | Buffer): Promise<void> {
    if (this.#stopped !== undefined) throw this.#stopped;
    if (this.#closing) throw new OfflineMarkerStoppedError('The offline marker is closed');

    const request = encodeMarkRequest(filePath);
    const child = this.#child ?? this.#start();
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ filePath: typeof filePath === 'string' ? filePath : filePath.toString('utf8'), resolve, reject });
      if (this.#pending.length === 1) this.#armTimer();
      child.stdin.write(`${request}\n`);
    });
  }

  /**
   * Ends the helper's input and waits for it to exit, at most the reply timeout before it
   * is asked to stop (SIGTERM) and the close grace more before it is killed (SIGKILL).
   * Once it exited, its output pipes get the close grace to reach their end. Then they
   * are destroyed, so that a process the helper left running cannot hold the run.
   */
  async close(): Promise<void> {
    this.#closing = true;
    const child = this.#child;
    if (child === undefined) return;

    // The helper replies to the requests it has read and exits at the end of its input.
    child.stdin.end();
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    const terminate = setTimeout(() => child.kill(), this.#replyTimeoutMs);
    const forceKill = setTimeout(() => child.kill('SIGKILL'), this.#replyTimeoutMs + this.#closeGraceMs);
    try {
      await exited;
    } finally {
      clearTimeout(terminate);
      clearTimeout(forceKill);
    }

    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<boolean>((resolve) => {
      graceTimer = setTimeout(() => resolve(false), this.#closeGraceMs);
    });
    const closed = await Promise.race([this.#closed!.then(() => true), graceOver]);
    clearTimeout(graceTimer);
    if (!closed) {
      this.#stop(`The offline marker ${this.#command} exited, but its output stayed open; a process it started may still run`);
      child.stdout.destroy();
      child.stderr.destroy();
      await this.#closed;
    }
  }

  #start(): ChildProcessWithoutNullStreams {
    const child = spawn(this.#command, this.#args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    this.#child = child;

    // 'close' comes after the output was read to its end, so every reply is seen first.
    this.#closed = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        if (this.#closing && this.#pending.length === 0 && code === 0) {
          this.#stopped ??= new OfflineMarkerStoppedError('The offline marker is closed');
        } else {
          this.#stop(`The offline marker ${this.#command} exited (${signal ?? `code ${code}`}) with ${this.#pending.length} requests unanswered${this.#stderrSuffix()}`);
        }
        resolve();
      });
    });
    child.on('error', (error) => {
      this.#stop(`Failed to start the offline marker ${this.#command}: ${error.message}`);
    });
    // Writes to a helper that died fail with EPIPE. They are ignored, because 'close' reports why it died.
    child.stdin.on('error', () => undefined);

    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL_CHARS);
    });
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => this.#onReply(line));
    return child;
  }

  #onReply(line: string): void {
    const mark = this.#pending.shift();
    if (mark === undefined) {
      this.#stop(`The offline marker ${this.#command} sent a line no request was waiting for: ${JSON.stringify(line.slice(0, 200))}`);
      return;
    }

    if (line === 'ok') {
      mark.resolve();
    } else if (line.startsWith('error ')) {
      mark.reject(new Error(`Failed to mark ${mark.filePath} offline: ${line.slice('error '.length)}`));
    } else {
      this.#pending.unshift(mark);
      this.#stop(`The offline marker ${this.#command} sent an invalid reply, expected "ok" or "error <message>": ${JSON.stringify(line.slice(0, 200))}`);
      return;
    }

    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length > 0) this.#armTimer();
  }

  #armTimer(): void {
    this.#timer = setTimeout(() => {
      this.#stop(`The offline marker ${this.#command} did not reply within ${this.#replyTimeoutMs / 1000} s and was stopped${this.#stderrSuffix()}`);
    }, this.#replyTimeoutMs);
  }

  /**
   * Rejects every unanswered request and all later ones with `message`, and kills the
   * helper if it still runs. Only the first reason is kept.
   */
  #stop(message: string): void {
    const error = this.#stopped ?? new OfflineMarkerStoppedError(message);
    this.#stopped = error;
    clearTimeout(this.#timer);
    this.#timer = undefined;

    for (const mark of this.#pending.splice(0)) {
      mark.reject(error);
    }
    if (this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill();
    }
  }

  #stderrSuffix(): string {
    const text = this.#stderrTail.replace(/\s+/g, ' ').trim();
    return text === '' ? '' : `; its stderr ends with: ${text}`;
  }
}
