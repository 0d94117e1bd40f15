/**
 * Fashion-MNIST and MNIST: finding them on disk, downloading them when allowed, loading them.
 *
 * Both ship as four IDX files (see `idx.ts`), usually gzipped: `train-images-idx3-ubyte`
 * (u8[60000,28,28]), `train-labels-idx1-ubyte` (u8[60000]), `t10k-images-idx3-ubyte`
 * (u8[10000,28,28]) and `t10k-labels-idx1-ubyte` (u8[10000]). Fashion-MNIST (Xiao, Rasul and
 * Vollgraf 2017, https://github.com/zalandoresearch/fashion-mnist) is packaged by Debian as
 * `dataset-fashion-mnist`, which installs the four `.gz` files under
 * `/usr/share/datasets/fashion-mnist/`.
 *
 * @module
 */

import * as E from "./_either_ops.ts";
import type { Either } from "./either.ts";
export type { DataErrorKind } from "./idx.ts";
export { DataError } from "./idx.ts";

import { DataError, readIdx } from "./idx.ts";
import { barText, stderrIsTty, stderrWriter } from "./_terminal.ts";

/** The datasets this module knows. */
export type MnistLikeName = "fashion-mnist" | "mnist";

/** The four files of an MNIST-like dataset, by role. */
export type MnistFileRole = "trainImages" | "trainLabels" | "testImages" | "testLabels";

/** Canonical (upstream) file names, without `.gz`. */
const fileStems: Readonly<Record<MnistFileRole, string>> = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
};
const roles = Object.keys(fileStems) as MnistFileRole[];

/** Accepted spellings of one file: upstream's, and the `train-images.idx3-ubyte` of some mirrors. */
function candidates(role: MnistFileRole): string[] {
  const stem = fileStems[role];
  const dotted = stem.replace(/-(idx\d)/, ".$1");
  return [stem, `${stem}.gz`, dotted, `${dotted}.gz`];
}

/**
 * Fashion-MNIST's class names, indexed by label.
 *
 * @example
 * ```ts
 * import { fashionMnistClassNames } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * assertEquals(fashionMnistClassNames[9], "Ankle boot");
 * ```
 */
export const fashionMnistClassNames: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

/**
 * Where each dataset is downloaded from: the base URL, to which the `.gz` file name is appended.
 *
 * @example
 * ```ts
 * import { mnistLikeUrls } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * assertEquals(mnistLikeUrls.mnist, "https://storage.googleapis.com/cvdf-datasets/mnist/");
 * ```
 */
export const mnistLikeUrls: Readonly<Record<MnistLikeName, string>> = Object.freeze({
  "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
  mnist: "https://storage.googleapis.com/cvdf-datasets/mnist/",
});

/** Where the four files of a dataset were found. */
export interface MnistLikeFiles extends Readonly<Record<MnistFileRole, string>> {
  /** The directory that holds them. */
  readonly dir: string;
}

/** One split of an MNIST-like dataset. */
export interface MnistSplit {
  /** u8[n, 28, 28] pixels, row-major, 0 = background. */
  readonly images: Uint8Array;
  /** u8[n] class indices in [0, 10). */
  readonly labels: Uint8Array;
  /** Number of examples. */
  readonly n: number;
}

/** A loaded MNIST-like dataset. */
export interface MnistLike {
  /** The training split (60000 examples upstream). */
  readonly train: MnistSplit;
  /** The test split (10000 examples upstream). */
  readonly test: MnistSplit;
  /** Image height. */
  readonly rows: 28;
  /** Image width. */
  readonly cols: 28;
  /** Name of each label. */
  readonly classNames: readonly string[];
}

/** Options of {@link findDataset}. */
export interface FindDatasetOptions {
  /** Directories to search instead of {@link datasetSearchDirs}'s defaults. */
  readonly dirs?: readonly string[];
}

/** Options of {@link loadMnistLike}. */
export interface LoadMnistLikeOptions extends FindDatasetOptions {
  /**
   * Download the files when they are missing and network access to the host is granted
   * (default `true`); `false` never touches the network.
   */
  readonly download?: boolean;
  /** Base URL to download from (default {@link mnistLikeUrls}`[name]`). */
  readonly baseUrl?: string;
  /** Directory to download into (default `<user cache>/denax/<name>`). */
  readonly cacheDir?: string;
  /** Draw a progress bar on stderr while downloading (default `true`). */
  readonly progress?: boolean;
  /** Abort a download that receives nothing for this long (default 30000 ms). */
  readonly idleTimeoutMs?: number;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no env permission: behave as if unset
  }
}

/** `$XDG_CACHE_HOME/denax/<name>`, else `$HOME/.cache/denax/<name>`. */
function defaultCacheDir(name: MnistLikeName): string | undefined {
  const base = env("XDG_CACHE_HOME") ?? (env("HOME") ? `${env("HOME")}/.cache` : undefined);
  return base === undefined ? undefined : `${base}/denax/${name}`;
}

/**
 * The directories searched for a dataset, in order: `$DENAX_DATA/<name>`, `$DENAX_DATA`,
 * `$XDG_CACHE_HOME/denax/<name>` (or `$HOME/.cache/denax/<name>`), and for Fashion-MNIST the
 * Debian package's `/usr/share/datasets/fashion-mnist`. Unset variables are skipped.
 *
 * @param name the dataset
 * @returns absolute or variable-derived directory paths
 *
 * @example
 * ```ts
 * import { datasetSearchDirs } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * assertEquals(datasetSearchDirs("fashion-mnist").at(-1), "/usr/share/datasets/fashion-mnist");
 * ```
 */
export function datasetSearchDirs(name: MnistLikeName): string[] {
  const dirs: string[] = [];
  const data = env("DENAX_DATA");
  if (data !== undefined) dirs.push(`${data.replace(/\/+$/, "")}/${name}`, data);
  const cache = defaultCacheDir(name);
  if (cache !== undefined) dirs.push(cache);
  if (name === "fashion-mnist") dirs.push("/usr/share/datasets/fashion-mnist");
  return dirs;
}

type Probe = { kind: "file" } | { kind: "absent" } | { kind: "denied" };

function probe(path: string): Probe {
  try {
    return Deno.statSync(path).isFile ? { kind: "file" } : { kind: "absent" };
  } catch (e) {
    return e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied
      ? { kind: "denied" }
      : { kind: "absent" };
  }
}

function howToGet(name: MnistLikeName, downloadFailed = false): string {
  const apt = name === "fashion-mnist"
    ? "help: run `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or "
    : "help: ";
  const net = downloadFailed
    ? "or check the network connection and retry"
    : `or run with --allow-net to download them from ${mnistLikeUrls[name]}`;
  return `${apt}put the four files (optionally .gz) in $DENAX_DATA/${name}, ${net}`;
}

/**
 * Finds the directory holding all four files of a dataset (each plain or `.gz`), searching
 * `opts.dirs` or else {@link datasetSearchDirs}.
 *
 * @param name `"fashion-mnist"` or `"mnist"`
 * @param opts `dirs`: directories to search instead of the defaults
 * @returns the directory and the path of each file, or a `DataError` of kind
 *   `missing-dataset` listing where it looked (and what each place lacked) and how to get
 *   the data
 *
 * @example
 * ```ts
 * import { findDataset } from "@denax/denax/data";
 * import { assert, assertEquals } from "@std/assert";
 * import * as E from "fp-ts/lib/Either.js";
 * const dir = await Deno.makeTempDir();
 * const r = findDataset("mnist", { dirs: [dir] });
 * assertEquals(E.isLeft(r) && r.left.kind, "missing-dataset");
 * assert(E.isLeft(r) && r.left.message.includes(dir));
 * await Deno.remove(dir);
 * ```
 */
export function findDataset(
  name: MnistLikeName,
  opts: FindDatasetOptions = {},
): Either<DataError, MnistLikeFiles> {
  const dirs = opts.dirs ?? datasetSearchDirs(name);
  const report: string[] = [];
  for (const dir of dirs) {
    const found: Partial<Record<MnistFileRole, string>> = {};
    let denied = false;
    for (const role of roles) {
      for (const file of candidates(role)) {
        const p = probe(`${dir}/${file}`);
        if (p.kind === "file") {
          found[role] = `${dir}/${file}`;
          break;
        }
        denied ||= p.kind === "denied";
      }
    }
    const missing = roles.filter((r) => found[r] === undefined);
    if (missing.length === 0) return E.right({ dir, ...(found as Record<MnistFileRole, string>) });
    const why = denied
      ? "no read permission"
      : missing.length === roles.length
      ? "no dataset files"
      : `lacks ${missing.map((r) => `${fileStems[r]}[.gz]`).join(", ")}`;
    report.push(`  ${dir} (${why})`);
  }
  const where = report.length > 0 ? `looked in:\n${report.join("\n")}` : "no directories to search";
  return E.left(
    new DataError("missing-dataset", `Cannot find ${name}: ${where}\n${howToGet(name)}`),
  );
}

async function loadFromFiles(
  name: MnistLikeName,
  files: MnistLikeFiles,
): Promise<Either<DataError, MnistLike>> {
  const [trI, trL, teI, teL] = await Promise.all(roles.map((r) => readIdx(files[r])));
  const split = (
    images: typeof trI,
    labels: typeof trL,
    imagesPath: string,
    labelsPath: string,
  ): Either<DataError, MnistSplit> => {
    if (E.isLeft(images)) return images;
    if (E.isLeft(labels)) return labels;
    const im = images.right, lb = labels.right;
    const bad = (what: string) =>
      E.left(new DataError("inconsistent", `Cannot load ${name}: ${what}`));
    if (im.dtype !== "u8" || im.shape.length !== 3 || im.shape[1] !== 28 || im.shape[2] !== 28) {
      return bad(`${imagesPath} holds ${im.dtype}[${im.shape}], expected u8[n,28,28]`);
    }
    if (lb.dtype !== "u8" || lb.shape.length !== 1) {
      return bad(`${labelsPath} holds ${lb.dtype}[${lb.shape}], expected u8[n]`);
    }
    const n = im.shape[0];
    if (lb.shape[0] !== n) {
      return bad(`${imagesPath} has ${n} images but ${labelsPath} has ${lb.shape[0]} labels`);
    }
    const i = lb.data.findIndex((l) => l >= 10);
    if (i >= 0) return bad(`${labelsPath} has label ${lb.data[i]} at index ${i}, expected < 10`);
    return E.right({ images: im.data, labels: lb.data, n });
  };
  const train = split(trI, trL, files.trainImages, files.trainLabels);
  if (E.isLeft(train)) return train;
  const test = split(teI, teL, files.testImages, files.testLabels);
  if (E.isLeft(test)) return test;
  const classNames = name === "fashion-mnist"
    ? fashionMnistClassNames
    : Object.freeze(Array.from({ length: 10 }, (_, k) => String(k)));
  return E.right({ train: train.right, test: test.right, rows: 28, cols: 28, classNames });
}

function netGranted(url: string): boolean {
  try {
    const host = new URL(url).host;
    return Deno.permissions.querySync({ name: "net", host }).state === "granted";
  } catch {
    return false;
  }
}

/** `26.4 MB`, or `29.5 kB` below a megabyte; `unit` picks the scale of another number. */
function size(n: number, unit = n): string {
  return unit >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

/**
 * Draws `denax: downloading <file> [=====>    ]  52% 13.7 MB/26.4 MB` on stderr, in place on
 * a terminal; elsewhere (logs, CI) prints one line with the URL instead.
 */
function progressBar(url: string, enabled: boolean) {
  const label = `denax: downloading ${url.split("/").at(-1)}`;
  const tty = enabled && stderrIsTty();
  const out = stderrWriter();
  let last = 0;
  return {
    start(total: number | undefined) {
      if (enabled && !tty) out(`denax: downloading ${url}${total ? ` (${size(total)})` : ""}\n`);
    },
    update(got: number, total: number | undefined, force = false) {
      if (!tty) return;
      const now = Date.now();
      if (!force && now - last < 100) return;
      last = now;
      if (total) {
        const f = Math.min(1, got / total), bar = barText(f, 30);
        const pct = (f * 100).toFixed(0).padStart(3);
        out(`\r${label} [${bar}] ${pct}% ${size(got, total)}/${size(total)}`);
      } else {
        out(`\r${label} ${size(got)}`);
      }
    },
    end() {
      if (tty) out("\n");
    },
  };
}

/** Downloads `url` to `dest` through a temporary file, so `dest` is whole or absent. */
async function download(
  url: string,
  dest: string,
  opts: { progress: boolean; idleTimeoutMs: number },
): Promise<Either<DataError, void>> {
  const tmp = `${dest}.part-${crypto.randomUUID().slice(0, 8)}`;
  const ctl = new AbortController();
  let timer = setTimeout(() => ctl.abort(), opts.idleTimeoutMs);
  const poke = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctl.abort(), opts.idleTimeoutMs);
  };
  const bar = progressBar(url, opts.progress);
  let file: Deno.FsFile | undefined;
  try {
    const res = await fetch(url, { signal: ctl.signal });
    if (!res.ok || res.body === null) {
      await res.body?.cancel();
      return E.left(
        new DataError("download", `Cannot download ${url}: HTTP ${res.status} ${res.statusText}`),
      );
    }
    const len = Number(res.headers.get("content-length"));
    const total = Number.isFinite(len) && len > 0 ? len : undefined;
    bar.start(total);
    file = await Deno.open(tmp, { write: true, createNew: true });
    let got = 0;
    for await (const chunk of res.body) {
      poke();
      let done = 0;
      while (done < chunk.length) done += await file.write(chunk.subarray(done));
      got += chunk.length;
      bar.update(got, total);
    }
    bar.update(got, total, true);
    if (total !== undefined && got !== total) {
      throw new Error(`connection closed after ${got} of ${total} bytes`);
    }
    await file.sync();
    file.close();
    file = undefined;
    await Deno.rename(tmp, dest);
    return E.right(undefined);
  } catch (e) {
    const msg = ctl.signal.aborted ? `no data for ${opts.idleTimeoutMs} ms` : (e as Error).message;
    return E.left(new DataError("download", `Cannot download ${url}: ${msg}`, { cause: e }));
  } finally {
    clearTimeout(timer);
    bar.end();
    file?.close();
    await Deno.remove(tmp).catch(() => {});
  }
}

/**
 * Loads Fashion-MNIST or MNIST as u8 arrays: finds the files with {@link findDataset}; when
 * they are missing and network access to the download host is granted (and `download` is not
 * `false`), downloads the four `.gz` files into the cache directory first, with a progress
 * bar on stderr. Every file is checked: IDX magic and sizes, images u8[n,28,28], labels u8[n]
 * with the same n and values below 10.
 *
 * @param name `"fashion-mnist"` or `"mnist"`
 * @param opts search directories, download switch, base URL, cache directory, progress bar
 * @returns both splits with `rows`, `cols` and `classNames`, or a `DataError`:
 *   `missing-dataset` (with where it looked and how to get the data), `download`, or a
 *   `readIdx` failure naming the file
 *
 * @example
 * ```ts
 * import { loadMnistLike } from "@denax/denax/data";
 * import { encodeIdx } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * import * as E from "fp-ts/lib/Either.js";
 * // A two-image stand-in for the real files, written to a temporary directory.
 * const dir = await Deno.makeTempDir();
 * const images = encodeIdx({ dtype: "u8", shape: [2, 28, 28], data: new Uint8Array(2 * 784) });
 * const labels = encodeIdx({ dtype: "u8", shape: [2], data: new Uint8Array([9, 0]) });
 * for (const split of ["train", "t10k"]) {
 *   await Deno.writeFile(`${dir}/${split}-images-idx3-ubyte`, images);
 *   await Deno.writeFile(`${dir}/${split}-labels-idx1-ubyte`, labels);
 * }
 * const ds = await loadMnistLike("fashion-mnist", { dirs: [dir], download: false });
 * if (E.isLeft(ds)) throw ds.left;
 * assertEquals(ds.right.test.n, 2);
 * assertEquals(ds.right.classNames[ds.right.train.labels[0]], "Ankle boot");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadMnistLike(
  name: MnistLikeName,
  opts: LoadMnistLikeOptions = {},
): Promise<Either<DataError, MnistLike>> {
  const found = findDataset(name, opts);
  if (E.isRight(found)) return loadFromFiles(name, found.right);

  const baseUrl = opts.baseUrl ?? mnistLikeUrls[name];
  if (opts.download === false) return found;
  if (!URL.canParse(baseUrl)) {
    return E.left(new DataError("download", `Cannot download ${name}: invalid baseUrl ${baseUrl}`));
  }
  if (!netGranted(baseUrl)) return found;
  const cacheDir = opts.cacheDir ?? defaultCacheDir(name);
  if (cacheDir === undefined) {
    return E.left(
      new DataError(
        "missing-dataset",
        `${found.left.message}\nCannot download ${name}: no cache directory ` +
          `($XDG_CACHE_HOME and $HOME are unset)\nhelp: pass cacheDir`,
      ),
    );
  }
  try {
    await Deno.mkdir(cacheDir, { recursive: true });
  } catch (e) {
    return E.left(
      new DataError("io", `Cannot create ${cacheDir}: ${(e as Error).message}`, { cause: e }),
    );
  }
  const files = { dir: cacheDir } as Record<MnistFileRole | "dir", string>;
  for (const role of roles) {
    const file = `${fileStems[role]}.gz`;
    const dest = `${cacheDir}/${file}`;
    files[role] = dest;
    if (probe(dest).kind === "file") continue; // from an earlier, interrupted run
    const url = new URL(file, baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).href;
    const got = await download(url, dest, {
      progress: opts.progress ?? true,
      idleTimeoutMs: opts.idleTimeoutMs ?? 30_000,
    });
    if (E.isLeft(got)) {
      const looked = (opts.dirs ?? datasetSearchDirs(name)).join(", ");
      return E.left(
        new DataError(
          "download",
          `${got.left.message}\n(${name} is not in ${looked || "any search directory"})\n` +
            howToGet(name, true),
          { cause: got.left.cause },
        ),
      );
    }
  }
  const loaded = await loadFromFiles(name, files);
  if (E.isLeft(loaded)) {
    // A corrupt download must not poison the cache: remove it so the next run fetches again.
    await Promise.all(roles.map((r) => Deno.remove(files[r]).catch(() => {})));
  }
  return loaded;
}
