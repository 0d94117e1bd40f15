/**
 * A small PNG writer (W3C PNG, 3rd edition): 8-bit grayscale, RGB or RGBA images, every scanline
 * with filter type 0 (none), the image data zlib-compressed by the runtime's
 * `CompressionStream("deflate")` (the zlib format, RFC 1950, which PNG's IDAT chunk holds), each
 * chunk closed by its CRC-32. Plus {@link imageGrid}, which tiles a batch of images (a Tensor
 * in [0, 1]) into one picture — reconstructions, samples, filters — and {@link savePng}.
 *
 * ```text
 * signature  89 50 4E 47 0D 0A 1A 0A
 * chunk      length (u32 BE) | type (4 ASCII) | data | CRC-32 of type + data (u32 BE)
 * IHDR       width, height (u32 BE), bit depth 8, colour type (0 gray, 2 RGB, 6 RGBA), 0, 0, 0
 * IDAT       zlib(for each row: filter byte 0, then the row's bytes)
 * IEND       empty
 * ```
 *
 * @module
 */
import type { Tensor } from "../core/tensor.ts";

/** An 8-bit image, row-major, channels interleaved. */
export interface PngImage {
  /** `height · width · channels` bytes. */
  readonly pixels: Uint8Array;
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** 1 (gray), 3 (RGB) or 4 (RGBA). */
  readonly channels: 1 | 3 | 4;
}

let crcTable: Uint32Array | undefined;

/**
 * CRC-32 (ISO 3309 / ITU-T V.42, polynomial 0xEDB88320 reflected), as PNG chunks, zip and gzip
 * use it.
 *
 * @param bytes the data
 * @returns the checksum as an unsigned 32-bit integer
 *
 * @example
 * ```ts
 * import { crc32 } from "@denax/denax/data";
 * const c = crc32(new TextEncoder().encode("123456789"));
 * if (c !== 0xcbf43926) throw new Error(`crc32: ${c.toString(16)}`); // the standard check value
 * ```
 */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

async function deflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const colourType = { 1: 0, 3: 2, 4: 6 } as const;

/**
 * Encodes an 8-bit image as PNG bytes (filter type 0 on every row, zlib through
 * `CompressionStream("deflate")`).
 *
 * @param pixels `height · width · channels` bytes, row-major, channels interleaved
 * @param width width in pixels
 * @param height height in pixels
 * @param channels 1 (grayscale), 3 (RGB) or 4 (RGBA)
 * @returns the PNG file's bytes
 * @throws {RangeError} for a width or height that is not a positive integer, a channel count
 *   other than 1, 3 or 4, or `pixels` of the wrong length
 *
 * @example
 * ```ts
 * import { encodePng } from "@denax/denax/data";
 * const png = await encodePng(new Uint8Array([0, 255, 255, 0]), 2, 2, 1); // a 2×2 checkerboard
 * const sig = [137, 80, 78, 71, 13, 10, 26, 10];
 * if (!sig.every((b, i) => png[i] === b)) throw new Error("not a PNG signature");
 * ```
 */
export async function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
): Promise<Uint8Array> {
  for (const [name, v] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) {
      throw new RangeError(`encodePng: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new RangeError(`encodePng: channels must be 1, 3 or 4, got ${channels}`);
  }
  const row = width * channels;
  if (pixels.length !== row * height) {
    throw new RangeError(
      `encodePng: ${width}×${height}×${channels} needs ${row * height} bytes, got ${pixels.length}`,
    );
  }
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = colourType[channels];
  // compression 0 (deflate), filter method 0, interlace 0 (none)
  const raw = new Uint8Array((row + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (row + 1)] = 0; // filter type: none
    raw.set(pixels.subarray(y * row, (y + 1) * row), y * (row + 1) + 1);
  }
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", await deflate(raw)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) (out.set(p, off), (off += p.length));
  return out;
}

/** Options of {@link imageGrid}. */
export interface ImageGridOptions {
  /** Images per row (default `⌈√N⌉`). */
  readonly cols?: number;
  /** Pixels between images and around the grid (default 2). */
  readonly pad?: number;
  /** The padding's value in [0, 1] (default 1, white). */
  readonly padValue?: number;
}

/**
 * Tiles a batch of images into one 8-bit picture, row by row, as torchvision's `make_grid`:
 * values are clipped to [0, 1] and scaled to 0…255 (rounded).
 *
 * @param x `f32[N, C, H, W]` with C = 1, 3 or 4, or `f32[N, H, W]` (grayscale), in [0, 1]
 * @param opts `cols` (default `⌈√N⌉`), `pad` (default 2), `padValue` (default 1)
 * @returns the picture: `rows·H + (rows + 1)·pad` high, `cols·W + (cols + 1)·pad` wide, with
 *   `rows = ⌈N / cols⌉`
 * @throws {TypeError} for a tensor that is not 3-d or 4-d, or has a channel count other than
 *   1, 3 or 4
 * @throws {RangeError} for `cols` below 1 or a negative `pad`
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { imageGrid } from "@denax/denax/data";
 * const g = await imageGrid(np.ones([3, 4, 5]), { cols: 2, pad: 1, padValue: 0 });
 * // two rows of two 4×5 tiles: 2·4 + 3 = 11 high, 2·5 + 3 = 13 wide
 * if (g.height !== 11 || g.width !== 13 || g.channels !== 1) throw new Error("grid shape");
 * if (g.pixels[1 * 13 + 1] !== 255 || g.pixels[0] !== 0) throw new Error("grid pixels");
 * ```
 */
export async function imageGrid(x: Tensor, opts: ImageGridOptions = {}): Promise<PngImage> {
  if (x.ndim !== 3 && x.ndim !== 4) {
    throw new TypeError(`imageGrid expects images [N, C, H, W] or [N, H, W], got ${x.aval}`);
  }
  const [n, c, h, w] = x.ndim === 4 ? x.shape : [x.shape[0], 1, x.shape[1], x.shape[2]];
  if (c !== 1 && c !== 3 && c !== 4) {
    throw new TypeError(`imageGrid: the channel axis must be 1, 3 or 4, got ${x.aval}`);
  }
  const cols = opts.cols ?? Math.max(1, Math.ceil(Math.sqrt(n)));
  const pad = opts.pad ?? 2;
  if (!Number.isInteger(cols) || cols < 1) {
    throw new RangeError(`imageGrid: cols must be a positive integer, got ${cols}`);
  }
  if (!Number.isInteger(pad) || pad < 0) {
    throw new RangeError(`imageGrid: pad must be a non-negative integer, got ${pad}`);
  }
  const rows = Math.max(1, Math.ceil(n / cols));
  const width = cols * w + (cols + 1) * pad, height = rows * h + (rows + 1) * pad;
  const toByte = (v: number) => Math.round(Math.min(Math.max(v, 0), 1) * 255);
  const pixels = new Uint8Array(width * height * c).fill(toByte(opts.padValue ?? 1));
  const src = await x.astype("f32").data();
  for (let i = 0; i < n; i++) {
    const top = pad + Math.floor(i / cols) * (h + pad), left = pad + (i % cols) * (w + pad);
    for (let ch = 0; ch < c; ch++) {
      for (let yy = 0; yy < h; yy++) {
        for (let xx = 0; xx < w; xx++) {
          const v = src[((i * c + ch) * h + yy) * w + xx];
          pixels[((top + yy) * width + left + xx) * c + ch] = toByte(v);
        }
      }
    }
  }
  return { pixels, width, height, channels: c as 1 | 3 | 4 };
}

/**
 * Writes an image as a PNG file, creating the folder when needed.
 *
 * @param path where to write, e.g. `out/samples.png`
 * @param image the picture ({@link imageGrid}'s result, or any {@link PngImage})
 * @returns nothing, once the file is written
 * @throws {RangeError} as {@link encodePng}
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { imageGrid, savePng } from "@denax/denax/data";
 * const dir = await Deno.makeTempDir();
 * await savePng(`${dir}/grid/zeros.png`, await imageGrid(np.zeros([4, 1, 8, 8])));
 * const bytes = await Deno.readFile(`${dir}/grid/zeros.png`);
 * if (bytes[1] !== 0x50) throw new Error("not a PNG"); // "P"
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function savePng(path: string, image: PngImage): Promise<void> {
  const bytes = await encodePng(image.pixels, image.width, image.height, image.channels);
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  await Deno.writeFile(path, bytes);
}
