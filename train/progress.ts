/**
 * A terminal progress bar for training: epoch, step/total, running loss, examples per second
 * and the time left in the epoch. On a terminal it redraws one line in place (`\r`); in a log
 * or a pipe it prints a plain line per update instead, so logs stay readable.
 *
 * ```text
 * epoch 2/10 [=========>          ] 117/234 loss 0.4123 5210 ex/s ETA 0:06
 * epoch 2/10 234/234 loss 0.4012 val_loss 0.4401 val_accuracy 0.8437 (11.5 s)
 * ```
 *
 * @module
 */
import { barText, stderrIsTty, stderrWriter } from "../data/_terminal.ts";

/** Options of {@link progressBar}. */
export interface ProgressOptions {
  /** Number of epochs. */
  readonly epochs: number;
  /** Steps per epoch. */
  readonly steps: number;
  /** Examples per step (for the examples/s figure). */
  readonly batchSize: number;
  /** Where the text goes (default: stderr, or `console.error` outside Deno). */
  readonly write?: (text: string) => void;
  /** Redraw in place (default: whether stderr is a terminal). */
  readonly tty?: boolean;
  /** Width of the bar in characters (default 24). */
  readonly width?: number;
  /** A clock in milliseconds (default `performance.now`), for tests. */
  readonly now?: () => number;
}

/** A progress bar made by {@link progressBar}. */
export interface ProgressBar {
  /** Starts an epoch (1-based), resetting the clock and the step count. */
  startEpoch(epoch: number): void;
  /** Reports that `step` steps of the epoch are done, with the running loss (or NaN). */
  update(step: number, loss: number): void;
  /** Ends the epoch with a summary of its logs (`loss`, `val_accuracy`, …). */
  endEpoch(logs: Readonly<Record<string, number>>): void;
  /** Prints a message on its own line (for early stopping, warnings). */
  message(text: string): void;
}

/**
 * Formats seconds as `m:ss` (or `h:mm:ss`).
 *
 * @param seconds a duration (negative and non-finite durations print as `--:--`)
 * @returns the duration
 *
 * @example
 * ```ts
 * import { formatDuration } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * assertEquals([formatDuration(65), formatDuration(3725)], ["1:05", "1:02:05"]);
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/**
 * Formats a metric value for logs: 4 significant decimals, `nan` for NaN.
 *
 * @param v a number
 * @returns its text
 *
 * @example
 * ```ts
 * import { formatValue } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * assertEquals([formatValue(0.123456), formatValue(1234.5), formatValue(NaN)], ["0.1235", "1234.5000", "nan"]);
 * ```
 */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "nan";
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(3);
  return v.toFixed(4);
}

/**
 * Makes a training progress bar. On a terminal, `update` redraws
 * `epoch e/E [====>   ] step/steps loss … ex/s ETA m:ss` in place and `endEpoch` replaces it
 * with the epoch's summary; elsewhere every `update` and `endEpoch` prints one plain line.
 *
 * @param opts `epochs`, `steps` per epoch, `batchSize`; `write`, `tty`, `width`, `now` to
 *   redirect or test it
 * @returns the bar
 *
 * @example
 * ```ts
 * import { progressBar } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const lines: string[] = [];
 * let t = 0;
 * const bar = progressBar({
 *   epochs: 1, steps: 4, batchSize: 10, tty: false, write: (s) => lines.push(s), now: () => t,
 * });
 * bar.startEpoch(1);
 * t = 1000;
 * bar.update(2, 0.5);
 * bar.endEpoch({ loss: 0.25 });
 * assertEquals(lines, [
 *   "epoch 1/1 2/4 loss 0.5000 20 ex/s ETA 0:01\n",
 *   "epoch 1/1 4/4 loss 0.2500 (1.0 s)\n",
 * ]);
 * ```
 */
export function progressBar(opts: ProgressOptions): ProgressBar {
  const write = opts.write ?? stderrWriter();
  const tty = opts.tty ?? stderrIsTty();
  const width = opts.width ?? 24;
  const now = opts.now ?? (() => performance.now());
  const { epochs, steps, batchSize } = opts;
  let epoch = 0, t0 = now(), drawn = false;
  const head = () => `epoch ${epoch}/${epochs}`;
  return {
    startEpoch(e: number): void {
      epoch = e;
      t0 = now();
    },
    update(step: number, loss: number): void {
      const secs = (now() - t0) / 1000;
      const rate = secs > 0 ? (step * batchSize) / secs : NaN;
      const eta = step > 0 ? (secs / step) * (steps - step) : NaN;
      const stats = `${step}/${steps} loss ${formatValue(loss)} ${
        Number.isFinite(rate) ? Math.round(rate) : "--"
      } ex/s ETA ${formatDuration(eta)}`;
      if (tty) {
        const bar = barText(steps > 0 ? step / steps : 1, width);
        write(`\r${head()} [${bar}] ${stats}\x1b[K`);
        drawn = true;
      } else {
        write(`${head()} ${stats}\n`);
      }
    },
    endEpoch(logs: Readonly<Record<string, number>>): void {
      const secs = (now() - t0) / 1000;
      const parts = Object.entries(logs).map(([k, v]) => `${k} ${formatValue(v)}`);
      const line = `${head()} ${steps}/${steps} ${parts.join(" ")} (${secs.toFixed(1)} s)`;
      write(tty ? `\r${line}\x1b[K\n` : `${line}\n`);
      drawn = false;
    },
    message(text: string): void {
      write(tty && drawn ? `\r${text}\x1b[K\n` : `${text}\n`);
      drawn = false;
    },
  };
}
