/**
 * A one-line progress bar for long fleet commands, redrawn in place on a terminal
 * (stderr), at most ten times a second. Lines printed through `print` appear above it.
 */
export class ProgressBar {
  private done = 0;
  private failed = 0;
  private lastDrawn = 0;
  private readonly started = Date.now();

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly width = 30,
  ) {}

  /** Record progress and redraw when the last drawing is older than 100 ms. */
  update(done: number, failed: number): void {
    this.done = done;
    this.failed = failed;
    if (Date.now() - this.lastDrawn >= 100 || done === this.total) this.draw();
  }

  /** Print a line of output (to stdout) above the bar. */
  print(line: string): void {
    this.clear();
    console.log(line);
    this.draw();
  }

  /** Remove the bar, leaving the terminal line empty. */
  finish(): void {
    this.clear();
  }

  private clear(): void {
    this.stream.write('\r\x1b[K');
  }

  private draw(): void {
    this.lastDrawn = Date.now();
    const fraction = this.total === 0 ? 1 : this.done / this.total;
    const filled = Math.round(fraction * this.width);
    const elapsed = (Date.now() - this.started) / 1000;
    const left = this.done > 0 ? (elapsed / this.done) * (this.total - this.done) : undefined;

    const parts = [
      `[${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}]`,
      `${this.done}/${this.total}`,
      `${Math.floor(fraction * 100)}%`,
      this.failed > 0 ? `${this.failed} failed` : '',
      `${elapsed.toFixed(0)} s`,
      left !== undefined && this.done < this.total ? `about ${Math.ceil(left)} s left` : '',
    ];
    this.stream.write(`\r\x1b[K${parts.filter(Boolean).join('  ')}`);
  }
}
