/**
 * The terminal side of every progress bar in the library (training epochs in
 * `train/progress.ts`, dataset downloads in `data/fashion_mnist.ts`): where the text goes,
 * whether it may redraw in place, and how the bar is drawn. Not part of the public API.
 *
 * @module
 */

const encoder = new TextEncoder();

/** The runtime's stderr where there is one (Deno; absent in a browser). */
function stderr(): Partial<typeof Deno.stderr> | undefined {
  return (globalThis as { Deno?: { stderr?: Partial<typeof Deno.stderr> } }).Deno?.stderr;
}

/**
 * A writer to stderr that writes every byte (or `console.error` outside Deno) and ignores a
 * closed stderr: progress is best effort.
 */
export function stderrWriter(): (text: string) => void {
  const err = stderr();
  if (err?.writeSync) {
    const writeSync = err.writeSync.bind(err);
    return (text: string) => {
      try {
        const bytes = encoder.encode(text);
        let done = 0;
        while (done < bytes.length) done += writeSync(bytes.subarray(done));
      } catch {
        // stderr closed: progress is best effort
      }
    };
  }
  return (text: string) => console.error(text.replace(/^\r|\n$/g, ""));
}

/** Whether stderr is a terminal (a bar may redraw in place with `\r`). */
export function stderrIsTty(): boolean {
  try {
    return stderr()?.isTerminal?.() === true;
  } catch {
    return false;
  }
}

/**
 * The bar itself, `width` characters: `=` for the part done with a `>` at its head, spaces
 * for the rest (`[=========>          ]` without the brackets).
 *
 * @param fraction The part done, clamped to [0, 1].
 * @param width The bar's width in characters.
 * @returns The bar.
 */
export function barText(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, fraction)), k = Math.round(f * width);
  return "=".repeat(Math.max(0, k - 1)) + (k > 0 ? (f < 1 ? ">" : "=") : "") +
    " ".repeat(width - k);
}
