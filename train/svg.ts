/**
 * Training curves as a standalone SVG file: one panel for the losses (`loss`, `val_loss`, …)
 * and one for the other metrics (accuracy, …), each series a polyline over the epochs, with
 * axes, ticks, labels and a legend. Open it in any browser.
 *
 * @module
 */
import type { History } from "./fit.ts";

/** Options of {@link trainingCurvesSvg}. */
export interface SvgOptions {
  /** Title above the panels (default "Training curves"). */
  readonly title?: string;
  /** Width of one panel in pixels (default 420). */
  readonly panelWidth?: number;
  /** Height of a panel in pixels (default 300). */
  readonly panelHeight?: number;
}

const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];
const skip = new Set(["epoch", "time"]);

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Round step of about `span / target` (1, 2 or 5 times a power of ten). */
function niceStep(span: number, target: number): number {
  const raw = span / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

function fmtTick(v: number, step: number): string {
  const d = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(d, 6));
}

interface Series {
  readonly name: string;
  readonly values: readonly number[];
}

function panel(
  title: string,
  series: readonly Series[],
  epochs: readonly number[],
  x0: number,
  y0: number,
  w: number,
  h: number,
  colorOf: (name: string) => string,
): string {
  const ml = 56, mr = 12, mt = 26, mb = 40;
  const pw = w - ml - mr, ph = h - mt - mb;
  const finite = series.flatMap((s) => s.values.filter(Number.isFinite));
  let lo = finite.length ? Math.min(...finite) : 0, hi = finite.length ? Math.max(...finite) : 1;
  if (hi - lo < 1e-12) [lo, hi] = [lo - 0.5 * (Math.abs(lo) || 1), hi + 0.5 * (Math.abs(hi) || 1)];
  const ys = niceStep(hi - lo, 5);
  lo = Math.floor(lo / ys) * ys;
  hi = Math.ceil(hi / ys) * ys;
  const e0 = epochs[0] ?? 1, e1 = epochs.at(-1) ?? 1;
  const espan = Math.max(e1 - e0, 1);
  const px = (e: number) => x0 + ml + ((e - e0) / espan) * pw;
  const py = (v: number) => y0 + mt + (1 - (v - lo) / (hi - lo)) * ph;
  const out: string[] = [];
  out.push(
    `<g class="panel" data-title="${esc(title)}">`,
    `<text x="${x0 + ml + pw / 2}" y="${y0 + 16}" text-anchor="middle" font-weight="bold">` +
      `${esc(title)}</text>`,
    `<rect x="${x0 + ml}" y="${y0 + mt}" width="${pw}" height="${ph}" fill="none" ` +
      `stroke="#888"/>`,
  );
  // y ticks and grid
  for (let v = lo, k = 0; v <= hi + ys / 2 && k < 50; v += ys, k++) {
    const y = py(v).toFixed(1);
    out.push(
      `<line x1="${x0 + ml}" x2="${x0 + ml + pw}" y1="${y}" y2="${y}" stroke="#eee"/>`,
      `<text x="${x0 + ml - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" ` +
        `font-size="11">${fmtTick(v, ys)}</text>`,
    );
  }
  // x ticks on whole epochs
  const xs = Math.max(1, Math.round(niceStep(espan, 8)));
  for (let e = Math.ceil(e0 / xs) * xs, k = 0; e <= e1 && k < 50; e += xs, k++) {
    const x = px(e).toFixed(1);
    out.push(
      `<line x1="${x}" x2="${x}" y1="${y0 + mt + ph}" y2="${y0 + mt + ph + 4}" stroke="#888"/>`,
      `<text x="${x}" y="${y0 + mt + ph + 16}" text-anchor="middle" font-size="11">${e}</text>`,
    );
  }
  out.push(
    `<text x="${x0 + ml + pw / 2}" y="${y0 + h - 6}" text-anchor="middle" font-size="12">` +
      `epoch</text>`,
  );
  // series
  series.forEach((s) => {
    const color = colorOf(s.name);
    const pts = s.values.map((v, j) => [epochs[j], v] as const).filter(([, v]) =>
      Number.isFinite(v)
    );
    const coords = pts.map(([e, v]) => `${px(e).toFixed(1)},${py(v).toFixed(1)}`);
    out.push(
      `<polyline data-series="${esc(s.name)}" fill="none" stroke="${color}" stroke-width="2" ` +
        `points="${coords.join(" ")}"/>`,
      ...coords.map((c) => {
        const [cx, cy] = c.split(",");
        return `<circle cx="${cx}" cy="${cy}" r="2.5" fill="${color}"/>`;
      }),
    );
  });
  // legend in the right corner the curves end away from (bottom right for rising accuracy),
  // on a translucent box over the curves
  const ends = series.map((s) => s.values.findLast(Number.isFinite)).filter((v) => v !== undefined);
  const endHigh = ends.filter((v) => v! > (lo + hi) / 2).length > ends.length / 2;
  const boxH = series.length * 16 + 6;
  const lx = x0 + ml + pw - 128, ly0 = endHigh ? y0 + mt + ph - 6 - boxH : y0 + mt + 6;
  if (series.length > 0) {
    out.push(
      `<rect x="${lx - 6}" y="${ly0}" width="128" height="${boxH}" ` +
        `fill="white" fill-opacity="0.85" stroke="#ccc"/>`,
    );
  }
  series.forEach((s, i) => {
    const color = colorOf(s.name), ly = ly0 + 11 + i * 16;
    out.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${color}" ` +
        `stroke-width="2"/>`,
      `<text x="${lx + 24}" y="${ly}" dominant-baseline="middle" font-size="11">` +
        `${esc(s.name)}</text>`,
    );
  });
  out.push(`</g>`);
  return out.join("\n");
}

/**
 * Draws training curves from a {@link History}: losses (keys containing `loss`) in the left
 * panel, every other logged metric (accuracy, …) in the right one (omitted when there is
 * none), against the epoch. `epoch` and `time` are not drawn. NaN values leave gaps.
 *
 * @param history per-epoch logs, as returned by `fit` (`epoch` optional: 1, 2, … by default)
 * @param opts `title`, `panelWidth`, `panelHeight`
 * @returns a standalone SVG document
 *
 * @example
 * ```ts
 * import { trainingCurvesSvg } from "@denax/denax/train";
 * import { assert } from "@std/assert";
 * const svg = trainingCurvesSvg({
 *   epoch: [1, 2, 3], loss: [0.9, 0.5, 0.4], val_loss: [0.8, 0.6, 0.55], val_accuracy: [0.7, 0.8, 0.82],
 * });
 * assert(svg.startsWith("<svg") && svg.includes('data-series="val_accuracy"'));
 * ```
 */
export function trainingCurvesSvg(history: Readonly<History>, opts: SvgOptions = {}): string {
  const w = opts.panelWidth ?? 420, h = opts.panelHeight ?? 300;
  const title = opts.title ?? "Training curves";
  const keys = Object.keys(history).filter((k) => !skip.has(k) && Array.isArray(history[k]));
  const len = Math.max(0, ...keys.map((k) => history[k].length));
  const epochs = history.epoch?.length
    ? history.epoch
    : Array.from({ length: len }, (_, i) => i + 1);
  const series = (ks: string[]) => ks.map((k) => ({ name: k, values: history[k] }));
  const losses = keys.filter((k) => /loss/i.test(k));
  const others = keys.filter((k) => !/loss/i.test(k));
  const colorOf = (name: string) => palette[keys.indexOf(name) % palette.length];
  const panels: string[] = [];
  const top = 30;
  if (losses.length > 0 || others.length === 0) {
    panels.push(panel("Loss", series(losses), epochs, 0, top, w, h, colorOf));
  }
  if (others.length > 0) {
    const label = others.every((k) => /acc/i.test(k)) ? "Accuracy" : "Metrics";
    panels.push(panel(label, series(others), epochs, panels.length * w, top, w, h, colorOf));
  }
  const width = panels.length * w, height = h + top;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    ...panels,
    `</svg>`,
    "",
  ].join("\n");
}

/**
 * Writes {@link trainingCurvesSvg} to a file, creating its directory.
 *
 * @param path destination, e.g. `out/curves.svg`
 * @param history per-epoch logs
 * @param opts as {@link trainingCurvesSvg}
 * @returns once written
 * @throws {Deno.errors.PermissionDenied} and other file-system errors
 *
 * @example
 * ```ts
 * import { writeTrainingCurves } from "@denax/denax/train";
 * import { assert } from "@std/assert";
 * const dir = await Deno.makeTempDir();
 * await writeTrainingCurves(`${dir}/plots/curves.svg`, { loss: [1, 0.5] });
 * assert((await Deno.readTextFile(`${dir}/plots/curves.svg`)).includes("<polyline"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeTrainingCurves(
  path: string,
  history: Readonly<History>,
  opts: SvgOptions = {},
): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  await Deno.writeTextFile(path, trainingCurvesSvg(history, opts));
}
