import "./backend.ts";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { np } from "../mod.ts";
import { crc32, encodePng, imageGrid, savePng } from "../data/png.ts";

/** A PNG taken apart by this test's own decoder (independent of data/png.ts). */
interface Decoded {
  width: number;
  height: number;
  bitDepth: number;
  colourType: number;
  channels: number;
  chunks: string[];
  filters: number[];
  pixels: Uint8Array;
}

const be32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getUint32(o);

/** The standard CRC-32, bit by bit (no table), to check the chunk CRCs independently. */
function crcBitwise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

async function inflate(z: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([z as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Decodes an 8-bit non-interlaced PNG: chunk CRCs checked, IDAT inflated, rows unfiltered. */
async function decodePng(png: Uint8Array): Promise<Decoded> {
  assertEquals([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "signature");
  const chunks: string[] = [], idat: Uint8Array[] = [];
  let ihdr: Uint8Array | undefined;
  for (let o = 8; o < png.length;) {
    const n = be32(png, o);
    const type = new TextDecoder().decode(png.subarray(o + 4, o + 8));
    const body = png.subarray(o + 8, o + 8 + n);
    assertEquals(be32(png, o + 8 + n), crcBitwise(png.subarray(o + 4, o + 8 + n)), `${type} CRC`);
    chunks.push(type);
    if (type === "IHDR") ihdr = body;
    if (type === "IDAT") idat.push(body);
    o += 12 + n;
  }
  assert(ihdr, "no IHDR");
  const width = be32(ihdr, 0), height = be32(ihdr, 4), bitDepth = ihdr[8], colourType = ihdr[9];
  assertEquals([ihdr[10], ihdr[11], ihdr[12]], [0, 0, 0], "compression, filter, interlace");
  const channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colourType];
  const z = new Uint8Array(idat.reduce((a, b) => a + b.length, 0));
  idat.reduce((o, b) => (z.set(b, o), o + b.length), 0);
  const raw = await inflate(z);
  const row = width * channels, bpp = channels;
  assertEquals(raw.length, (row + 1) * height, "inflated size");
  const px = new Uint8Array(row * height), filters: number[] = [];
  for (let y = 0; y < height; y++) {
    const f = raw[y * (row + 1)];
    filters.push(f);
    for (let x = 0; x < row; x++) {
      const v = raw[y * (row + 1) + 1 + x];
      const a = x >= bpp ? px[y * row + x - bpp] : 0;
      const b = y > 0 ? px[(y - 1) * row + x] : 0;
      const c = x >= bpp && y > 0 ? px[(y - 1) * row + x - bpp] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][f];
      assert(pred !== undefined, `unknown filter ${f}`);
      px[y * row + x] = (v + pred) & 0xff;
    }
  }
  return { width, height, bitDepth, colourType, channels, chunks, filters, pixels: px };
}

/** tools/png_fixture.py's pattern: (x·37 + y·91 + c·53 + x·y) mod 256. */
function pattern(w: number, h: number, c: number): Uint8Array {
  const out = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) {
        out[(y * w + x) * c + k] = (x * 37 + y * 91 + k * 53 + x * y) % 256;
      }
    }
  }
  return out;
}

const goldens = [
  { file: "pil_gray_7x5.png", w: 7, h: 5, c: 1 as const, type: 0 },
  { file: "pil_rgb_6x4.png", w: 6, h: 4, c: 3 as const, type: 2 },
  { file: "pil_rgba_3x3.png", w: 3, h: 3, c: 4 as const, type: 6 },
];

Deno.test("crc32 gives the standard check value and agrees with a bitwise CRC", () => {
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  const bytes = pattern(17, 13, 3);
  assertEquals(crc32(bytes), crcBitwise(bytes));
  assertEquals(crc32(new Uint8Array(0)), 0);
});

Deno.test("the test's decoder reads PIL's golden PNGs back to the pattern they were made from", async () => {
  for (const g of goldens) {
    const d = await decodePng(
      await Deno.readFile(new URL(`testdata/png/${g.file}`, import.meta.url)),
    );
    assertEquals([d.width, d.height, d.bitDepth, d.colourType], [g.w, g.h, 8, g.type], g.file);
    assertEquals(d.pixels, pattern(g.w, g.h, g.c), g.file);
  }
});

Deno.test("encodePng writes the pixels PIL's golden files hold, in valid chunks", async () => {
  for (const g of goldens) {
    const png = await encodePng(pattern(g.w, g.h, g.c), g.w, g.h, g.c);
    const mine = await decodePng(png);
    const pil = await decodePng(
      await Deno.readFile(new URL(`testdata/png/${g.file}`, import.meta.url)),
    );
    assertEquals(mine.chunks, ["IHDR", "IDAT", "IEND"]);
    assertEquals([mine.width, mine.height, mine.bitDepth, mine.colourType], [
      pil.width,
      pil.height,
      pil.bitDepth,
      pil.colourType,
    ]);
    assertEquals(mine.filters, new Array(g.h).fill(0));
    assertEquals(mine.pixels, pil.pixels, g.file);
  }
});

Deno.test("encodePng rejects sizes, channel counts and pixel buffers that do not fit", async () => {
  await assertRejects(() => encodePng(new Uint8Array(4), 0, 4, 1), RangeError, "width");
  await assertRejects(() => encodePng(new Uint8Array(4), 2, 2.5, 1), RangeError, "height");
  await assertRejects(() => encodePng(new Uint8Array(8), 2, 2, 2 as 1), RangeError, "channels");
  await assertRejects(() => encodePng(new Uint8Array(5), 2, 2, 1), RangeError, "needs 4 bytes");
});

Deno.test("imageGrid tiles [N, C, H, W] images row by row with padding, clipped and scaled", async () => {
  // 3 RGB images 2×2: image i has value (i + 1) / 4 in channel 0, 0 in channel 1, 2 (clipped) in 2
  const vals: number[] = [];
  for (let i = 0; i < 3; i++) {
    vals.push(...[1, 1, 1, 1].map(() => (i + 1) / 4), 0, 0, 0, 0, 2, 2, 2, 2);
  }
  const x = np.array(vals, { shape: [3, 3, 2, 2] });
  const g = await imageGrid(x, { cols: 2, pad: 1, padValue: 0.5 });
  assertEquals([g.width, g.height, g.channels], [2 * 2 + 3, 2 * 2 + 3, 3]);
  const at = (
    px: number,
    py: number,
  ) => [...g.pixels.subarray((py * g.width + px) * 3, (py * g.width + px) * 3 + 3)];
  assertEquals(at(0, 0), [128, 128, 128]); // padding
  assertEquals(at(1, 1), [64, 0, 255]); // image 0, top-left
  assertEquals(at(4, 2), [128, 0, 255]); // image 1 (second column), bottom-right pixel
  assertEquals(at(3, 1), [128, 128, 128]); // the gap between the columns
  assertEquals(at(1, 4), [191, 0, 255]); // image 2 starts the second row
  assertEquals(at(4, 4), [128, 128, 128]); // the empty fourth cell stays padding
});

Deno.test("imageGrid takes [N, H, W] as grayscale and rejects other shapes", async () => {
  const g = await imageGrid(np.array([[[0, 1]], [[1, 0]]]), { pad: 0 });
  assertEquals([g.width, g.height, g.channels], [4, 1, 1]);
  assertEquals([...g.pixels], [0, 255, 255, 0]);
  await assertRejects(() => imageGrid(np.zeros([2, 2])), TypeError, "f32[2,2]");
  await assertRejects(() => imageGrid(np.zeros([1, 2, 2, 2])), TypeError, "channel axis");
  await assertRejects(() => imageGrid(np.zeros([1, 2, 2]), { cols: 0 }), RangeError, "cols");
});

Deno.test("savePng writes a file that decodes to the grid", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const grid = await imageGrid(np.linspace(0, 1, 32).reshape(2, 4, 4), { cols: 2, pad: 2 });
    await savePng(`${dir}/a/b.png`, grid);
    const d = await decodePng(await Deno.readFile(`${dir}/a/b.png`));
    assertEquals([d.width, d.height, d.channels], [grid.width, grid.height, 1]);
    assertEquals(d.pixels, grid.pixels);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
