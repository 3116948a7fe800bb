// The progress bar of fit: one line per epoch, redrawn in place (at most ~10 times a second) with
// the batches done, the running loss, the rate and the time left. Only on a terminal.

/** Where the bar is drawn: a terminal stream (process.stdout by default). */
export interface ProgressOutput {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Seconds as `12s`, `3m05s` or `1h02m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A loss with 4 significant digits (exponent form when small). */
export function formatLoss(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toPrecision(4) : v.toExponential(2);
}

/** One epoch's bar. */
export class ProgressBar {
  private readonly start = performance.now();
  private lastDraw = 0;

  constructor(
    private readonly out: ProgressOutput,
    private readonly label: string,
    /** Batches in the epoch; null when not known (the first pass over an iterable). */
    private readonly total: number | null,
    private readonly unit = 'seq',
  ) {}

  /** Redraws (throttled) after `done` of `total` batches and `samples` sequences. */
  update(done: number, samples: number, loss: number, force = false): void {
    const now = performance.now();
    const total = this.total ?? (force ? done : Infinity);
    if (!force && now - this.lastDraw < 100 && done < total) return;
    this.lastDraw = now;
    const elapsed = (now - this.start) / 1000;
    const rate = elapsed > 0 ? samples / elapsed : 0;
    const eta = done > 0 ? (elapsed * (total - done)) / done : NaN;
    const cols = Math.max(40, Math.min(this.out.columns ?? 80, 120));
    const tail = ` ${done}/${Number.isFinite(total) ? total : '?'} · loss ${formatLoss(loss)} · ${Math.round(rate)} ${this.unit}/s · ${done < total ? (Number.isFinite(total) ? `ETA ${formatDuration(eta)}` : formatDuration(elapsed)) : formatDuration(elapsed)}`;
    const width = Math.max(10, Math.min(30, cols - this.label.length - tail.length - 4));
    const filled = !Number.isFinite(total)
      ? 0
      : total > 0
        ? Math.round((width * done) / total)
        : width;
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    this.out.write(`\r\x1b[2K${this.label} ${bar}${tail}`);
  }

  /** Ends the line with a summary appended. */
  end(summary: string): void {
    this.out.write(`${summary ? ` · ${summary}` : ''}\n`);
  }
}
