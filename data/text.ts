/**
 * Character-level text data for language modelling: a {@link Vocab} (with PAD, BOS, EOS and
 * UNK tokens and a minimum frequency, as Dive into Deep Learning's `Vocab`, §9.2), sequence
 * windows with shifted targets (`x = ids[i : i+L]`, `y = ids[i+1 : i+L+1]`), padding of
 * variable-length sequences, and a small built-in corpus for tests and examples.
 *
 * Characters are Unicode code points (`Array.from(text)`), so an emoji or an accented letter
 * written as one code point is one token.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";

/**
 * A small public-domain corpus: the opening of H. G. Wells's *The Time Machine* (1895), the
 * book Dive into Deep Learning uses for its language models.
 *
 * @example
 * ```ts
 * import { timeMachineOpening } from "@denax/denax/data";
 * const start = timeMachineOpening.slice(0, 19);
 * console.log(start); // "The Time Traveller "
 * if (start !== "The Time Traveller ") throw new Error(`got "${start}"`);
 * ```
 */
export const timeMachineOpening: string =
  "The Time Traveller (for so it will be convenient to speak of him) was expounding a " +
  "recondite matter to us. His grey eyes shone and twinkled, and his usually pale face was " +
  "flushed and animated. The fire burned brightly, and the soft radiance of the incandescent " +
  "lights in the lilies of silver caught the bubbles that flashed and passed in our glasses. " +
  "Our chairs, being his patents, embraced and caressed us rather than submitted to be sat " +
  "upon, and there was that luxurious after-dinner atmosphere when thought roams gracefully " +
  "free of the trammels of precision.";

/**
 * Splits text into characters (Unicode code points).
 *
 * @param text any string
 * @returns one string per code point
 *
 * @example
 * ```ts
 * import { chars } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * assertEquals(chars("né😀"), ["n", "é", "😀"]);
 * ```
 */
export function chars(text: string): string[] {
  return Array.from(text);
}

/** The special tokens of a {@link Vocab}, with their default spellings. */
export interface SpecialTokens {
  /** Padding, id 0 (default `"<pad>"`). */
  readonly pad: string;
  /** Beginning of sequence, id 1 (default `"<bos>"`). */
  readonly bos: string;
  /** End of sequence, id 2 (default `"<eos>"`). */
  readonly eos: string;
  /** Unknown (rare or unseen) token, id 3 (default `"<unk>"`). */
  readonly unk: string;
}

/** Options of {@link Vocab.build}. */
export interface VocabOptions {
  /** Tokens seen fewer times than this map to UNK (default 1: keep every token). */
  readonly minFreq?: number;
  /** Spellings of the special tokens (defaults `<pad>`, `<bos>`, `<eos>`, `<unk>`). */
  readonly specials?: Partial<SpecialTokens>;
  /** At most this many tokens besides the specials, the most frequent first (default: all). */
  readonly maxSize?: number;
}

/** Options of {@link Vocab.encode}. */
export interface EncodeOptions {
  /** Prepend BOS (default false). */
  readonly bos?: boolean;
  /** Append EOS (default false). */
  readonly eos?: boolean;
}

/** Options of {@link Vocab.decode}. */
export interface DecodeOptions {
  /**
   * Drop PAD, BOS and EOS (default true); UNK is kept, spelled as its special token. A
   * decoded id outside the vocabulary throws either way.
   */
  readonly skipSpecial?: boolean;
}

/**
 * A token ↔ id mapping: ids 0–3 are PAD, BOS, EOS, UNK; then the tokens seen at least
 * `minFreq` times, the most frequent first (ties in code point order, so the vocabulary does
 * not depend on the order of the corpus). PyTorch users: this is torchtext's `vocab` with
 * `specials` first; d2l's `Vocab` has only `<unk>` among the specials.
 *
 * @example
 * ```ts
 * import { chars, timeMachineOpening, Vocab } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const vocab = Vocab.build(chars(timeMachineOpening));
 * const ids = vocab.encode("the time", { bos: true, eos: true });
 * assertEquals(ids[0], vocab.bos);
 * assertEquals(vocab.decode(ids), "the time");
 * assertEquals(vocab.decode([vocab.id("#")]), "<unk>"); // never seen
 * ```
 */
export class Vocab {
  /** Id of PAD (0). */
  readonly pad: number = 0;
  /** Id of BOS (1). */
  readonly bos: number = 1;
  /** Id of EOS (2). */
  readonly eos: number = 2;
  /** Id of UNK (3). */
  readonly unk: number = 3;
  /** The token of each id. */
  readonly tokens: readonly string[];
  /** How often each kept token occurred in the corpus (0 for the specials). */
  readonly counts: readonly number[];
  #index: Map<string, number>;

  private constructor(tokens: readonly string[], counts: readonly number[]) {
    this.tokens = Object.freeze([...tokens]);
    this.counts = Object.freeze([...counts]);
    this.#index = new Map(tokens.map((t, i) => [t, i]));
  }

  /**
   * Builds a vocabulary from a token sequence (use {@link chars} for characters).
   *
   * @param tokens the corpus, as tokens
   * @param opts `minFreq` (default 1), `specials`, `maxSize`
   * @returns the vocabulary
   * @throws {RangeError} for `minFreq` below 1, a negative `maxSize`, or special tokens that
   *   are not distinct
   *
   * @example
   * ```ts
   * import { chars, Vocab } from "@denax/denax/data";
   * import { assertEquals } from "@std/assert";
   * const v = Vocab.build(chars("abracadabra"), { minFreq: 2 }); // c and d occur once
   * assertEquals(v.tokens, ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "r"]);
   * ```
   */
  static build(tokens: Iterable<string>, opts: VocabOptions = {}): Vocab {
    const minFreq = opts.minFreq ?? 1;
    if (!Number.isInteger(minFreq) || minFreq < 1) {
      throw new RangeError(`Vocab.build: minFreq must be an integer ≥ 1, got ${minFreq}`);
    }
    const maxSize = opts.maxSize ?? Infinity;
    if (!(maxSize >= 0)) {
      throw new RangeError(`Vocab.build: maxSize must be ≥ 0, got ${maxSize}`);
    }
    const sp = opts.specials ?? {};
    const specials = [sp.pad ?? "<pad>", sp.bos ?? "<bos>", sp.eos ?? "<eos>", sp.unk ?? "<unk>"];
    if (new Set(specials).size !== 4) {
      throw new RangeError(`Vocab.build: special tokens must be distinct, got ${specials}`);
    }
    const freq = new Map<string, number>();
    for (const t of tokens) freq.set(t, (freq.get(t) ?? 0) + 1);
    const kept = [...freq].filter(([t, c]) => c >= minFreq && !specials.includes(t))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, maxSize);
    return new Vocab(
      [...specials, ...kept.map(([t]) => t)],
      [0, 0, 0, 0, ...kept.map(([, c]) => c)],
    );
  }

  /** Number of ids, specials included. */
  get size(): number {
    return this.tokens.length;
  }

  /**
   * The id of a token, UNK when it is not in the vocabulary.
   *
   * @param token one token
   * @returns its id
   *
   * @example
   * ```ts
   * import { Vocab } from "@denax/denax/data";
   * import { assertEquals } from "@std/assert";
   * const v = Vocab.build(["a", "b", "a"]);
   * assertEquals([v.id("a"), v.id("b"), v.id("z")], [4, 5, v.unk]);
   * ```
   */
  id(token: string): number {
    return this.#index.get(token) ?? this.unk;
  }

  /**
   * Encodes text (or tokens) as ids: characters of a string, elements of an array.
   *
   * @param text a string (split into code points) or an array of tokens
   * @param opts `bos`, `eos`: add the markers
   * @returns the ids
   *
   * @example
   * ```ts
   * import { chars, Vocab } from "@denax/denax/data";
   * import { assertEquals } from "@std/assert";
   * const v = Vocab.build(chars("hello"));
   * assertEquals(v.encode("hell", { eos: true }), [6, 5, 4, 4, v.eos]); // l is the most frequent
   * ```
   */
  encode(text: string | readonly string[], opts: EncodeOptions = {}): number[] {
    const toks = typeof text === "string" ? chars(text) : text;
    const ids = toks.map((t) => this.id(t));
    if (opts.bos) ids.unshift(this.bos);
    if (opts.eos) ids.push(this.eos);
    return ids;
  }

  /**
   * Decodes ids back to text, joining the tokens.
   *
   * @param ids integer ids (a JS array or typed array)
   * @param opts `skipSpecial` (default true): drop PAD, BOS, EOS
   * @returns the text
   * @throws {RangeError} for an id outside `[0, size)`
   *
   * @example
   * ```ts
   * import { chars, Vocab } from "@denax/denax/data";
   * import { assertEquals } from "@std/assert";
   * const v = Vocab.build(chars("hi"));
   * assertEquals(v.decode([1, 4, 5, 2, 0, 0]), "hi");
   * assertEquals(v.decode([1, 4, 5, 2], { skipSpecial: false }), "<bos>hi<eos>");
   * ```
   */
  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecial ?? true;
    let out = "";
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.size) {
        throw new RangeError(
          `Vocab.decode: id ${id} at position ${i} is outside the vocabulary [0, ${this.size})`,
        );
      }
      if (skip && id < 3) continue;
      out += this.tokens[id];
    }
    return out;
  }
}

/** Options of {@link lmWindows}. */
export interface LmWindowsOptions {
  /** Window length L (number of steps per example). */
  readonly seqLen: number;
  /**
   * Offset between consecutive windows (default `seqLen`: non-overlapping windows, d2l's
   * sequential partitioning); 1 gives every window.
   */
  readonly stride?: number;
}

/**
 * Language-modelling windows: example `k` is `x = ids[s : s+L]` and its targets
 * `y = ids[s+1 : s+L+1]` (the next token at every step), with `s = k · stride`. Windows that
 * would run past the end are dropped, so there are `⌊(len − 1 − L) / stride⌋ + 1` of them.
 *
 * @param ids the token ids of the whole corpus
 * @param opts `seqLen` L, `stride`
 * @returns `x: i32[windows, L]`, `y: i32[windows, L]`
 * @throws {RangeError} for a non-positive `seqLen` or `stride`, or a corpus shorter than
 *   `seqLen + 1`
 *
 * @example
 * ```ts
 * import { init } from "@denax/denax";
 * import { lmWindows } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * await init({ backend: "cpu" });
 * const { x, y } = lmWindows([10, 11, 12, 13, 14, 15, 16], { seqLen: 3 });
 * assertEquals(await x.toArray(), [[10, 11, 12], [13, 14, 15]]);
 * assertEquals(await y.toArray(), [[11, 12, 13], [14, 15, 16]]);
 * ```
 */
export function lmWindows(ids: ArrayLike<number>, opts: LmWindowsOptions): {
  x: Tensor;
  y: Tensor;
} {
  const L = opts.seqLen, stride = opts.stride ?? L;
  if (!Number.isInteger(L) || L < 1) {
    throw new RangeError(`lmWindows: seqLen must be an integer ≥ 1, got ${L}`);
  }
  if (!Number.isInteger(stride) || stride < 1) {
    throw new RangeError(`lmWindows: stride must be an integer ≥ 1, got ${stride}`);
  }
  if (ids.length < L + 1) {
    throw new RangeError(
      `lmWindows: a corpus of ${ids.length} tokens is too short for seqLen ${L} ` +
        `(needs at least ${L + 1})`,
    );
  }
  const n = Math.floor((ids.length - 1 - L) / stride) + 1;
  const x = new Int32Array(n * L), y = new Int32Array(n * L);
  for (let k = 0; k < n; k++) {
    const s = k * stride;
    for (let j = 0; j < L; j++) {
      x[k * L + j] = ids[s + j];
      y[k * L + j] = ids[s + j + 1];
    }
  }
  return { x: np.array(x, { shape: [n, L] }), y: np.array(y, { shape: [n, L] }) };
}

/** Options of {@link padSequences}. */
export interface PadSequencesOptions {
  /** The padding id (default 0, the {@link Vocab}'s PAD). */
  readonly padId?: number;
  /** Pad or truncate every sequence to this length (default: the longest). */
  readonly length?: number;
}

/**
 * Stacks variable-length id sequences into one rectangular batch, padding on the right (and
 * truncating sequences longer than `length`), with a mask of the real tokens.
 *
 * @param seqs the sequences
 * @param opts `padId` (default 0), `length` (default: the longest)
 * @returns `ids: i32[n, length]`, `mask: f32[n, length]` (1 for tokens, 0 for padding), and
 *   `lengths: i32[n]` (after truncation)
 * @throws {RangeError} for a negative `length`
 *
 * @example
 * ```ts
 * import { init } from "@denax/denax";
 * import { padSequences } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * await init({ backend: "cpu" });
 * const { ids, mask } = padSequences([[5, 6, 7], [8]]);
 * assertEquals(await ids.toArray(), [[5, 6, 7], [8, 0, 0]]);
 * assertEquals(await mask.toArray(), [[1, 1, 1], [1, 0, 0]]);
 * ```
 */
export function padSequences(
  seqs: readonly ArrayLike<number>[],
  opts: PadSequencesOptions = {},
): { ids: Tensor; mask: Tensor; lengths: Tensor } {
  const L = opts.length ?? seqs.reduce((m, s) => Math.max(m, s.length), 0);
  if (!Number.isInteger(L) || L < 0) {
    throw new RangeError(`padSequences: length must be an integer ≥ 0, got ${L}`);
  }
  const n = seqs.length, padId = opts.padId ?? 0;
  const ids = new Int32Array(n * L).fill(padId), mask = new Float32Array(n * L);
  const lengths = new Int32Array(n);
  seqs.forEach((s, i) => {
    const m = Math.min(L, s.length);
    lengths[i] = m;
    for (let j = 0; j < m; j++) {
      ids[i * L + j] = s[j];
      mask[i * L + j] = 1;
    }
  });
  return {
    ids: np.array(ids, { shape: [n, L] }),
    mask: np.array(mask, { shape: [n, L] }),
    lengths: np.array(lengths),
  };
}

/** Options of {@link charDataset}. */
export interface CharDatasetOptions extends LmWindowsOptions, VocabOptions {
  /** An existing vocabulary to encode with (default: built from the text). */
  readonly vocab?: Vocab;
}

/**
 * A character-level language-modelling dataset in one call: builds a {@link Vocab} from
 * the text (unless given), encodes it, and cuts it into {@link lmWindows}.
 *
 * @param text the corpus (default: {@link timeMachineOpening})
 * @param opts `seqLen`, `stride`, `minFreq`, `specials`, `maxSize`, `vocab`
 * @returns `vocab`, `x: i32[windows, seqLen]`, `y: i32[windows, seqLen]`
 * @throws {RangeError} as {@link Vocab.build} and {@link lmWindows}
 *
 * @example
 * ```ts
 * import { init } from "@denax/denax";
 * import { charDataset } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * await init({ backend: "cpu" });
 * const { vocab, x, y } = charDataset(undefined, { seqLen: 32 });
 * assertEquals(x.shape[1], 32);
 * assertEquals(vocab.decode(await y.index(0).data()).length, 32);
 * ```
 */
export function charDataset(
  text: string = timeMachineOpening,
  opts: CharDatasetOptions,
): { vocab: Vocab; x: Tensor; y: Tensor } {
  const vocab = opts.vocab ?? Vocab.build(chars(text), opts);
  return { vocab, ...lmWindows(vocab.encode(text), opts) };
}
