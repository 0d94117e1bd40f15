/**
 * Word-level vocabularies for translation and word language models: d2l's text preprocessing
 * (§10.5 `preprocess_nmt`: lower case, non-breaking spaces to spaces, a space before `,.!?`)
 * and whitespace tokenisation, over the {@link Vocab} of `./text.ts` (ids 0–3 are `<pad>`,
 * `<bos>`, `<eos>`, `<unk>`), with encoding to padded id arrays and decoding joined by spaces.
 *
 * @module
 */
import { Vocab, type VocabOptions } from "./text.ts";

/** Options of {@link words}. */
export interface WordsOptions {
  /** Lower-case the text (default true, as d2l). */
  readonly lowercase?: boolean;
}

/**
 * Splits text into words as d2l's `preprocess_nmt` + `tokenize_nmt` do: non-breaking spaces
 * become spaces, the text is lower-cased, a space is inserted before `,`, `.`, `!`, `?` that
 * follow a non-space, and the result is split on whitespace.
 *
 * @param text Any text.
 * @param opts `{ lowercase = true }`.
 * @returns The words.
 * @example
 * ```ts
 * import { words } from "@denax/denax/data";
 * const w = words("Go.\u202fI'm home!");
 * console.log(w); // [ "go", ".", "i'm", "home", "!" ]
 * if (w.join(" ") !== "go . i'm home !") throw new Error(`got ${w}`);
 * ```
 */
export function words(text: string, opts: WordsOptions = {}): string[] {
  let t = text.replace(/[\u202f\u00a0]/g, " ");
  if (opts.lowercase ?? true) t = t.toLowerCase();
  t = t.replace(/(?<=\S)([,.!?])/g, " $1");
  return t.split(/\s+/).filter((w) => w.length > 0);
}

/** Options of {@link WordVocab.build}. */
export interface WordVocabOptions extends VocabOptions, WordsOptions {}

/** Options of {@link WordVocab.encodeBatch}. */
export interface EncodeBatchOptions {
  /** Pad or truncate every sentence to this many ids (d2l's `num_steps`). */
  readonly length: number;
  /** Prepend `<bos>` (default false). */
  readonly bos?: boolean;
  /** Append `<eos>` (default true, as d2l's `build_array_nmt`). */
  readonly eos?: boolean;
}

/**
 * A word-level vocabulary: {@link words} for tokenisation, {@link Vocab} for the ids
 * (`<pad>` 0, `<bos>` 1, `<eos>` 2, `<unk>` 3, then words by frequency).
 *
 * @example
 * ```ts
 * import { WordVocab } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const v = WordVocab.build(["Go now.", "Go home!"]);
 * const { ids, validLens } = v.encodeBatch(["go home .", "run !"], { length: 5 });
 * assertEquals(validLens, [4, 3]); // "run" is unknown
 * assertEquals(v.decode(ids[0]), "go home .");
 * assertEquals(ids[1][0], v.vocab.unk);
 * ```
 */
export class WordVocab {
  /** The id mapping. */
  readonly vocab: Vocab;
  readonly #opts: WordsOptions;

  private constructor(vocab: Vocab, opts: WordsOptions) {
    this.vocab = vocab;
    this.#opts = opts;
  }

  /**
   * Builds the vocabulary of a corpus of sentences.
   *
   * @param sentences The corpus.
   * @param opts `minFreq`, `maxSize`, `specials` (of {@link Vocab.build}) and `lowercase`.
   * @returns The vocabulary.
   * @throws {RangeError} As {@link Vocab.build}.
   */
  static build(sentences: Iterable<string>, opts: WordVocabOptions = {}): WordVocab {
    const all: string[] = [];
    for (const s of sentences) all.push(...words(s, opts));
    return new WordVocab(Vocab.build(all, opts), { lowercase: opts.lowercase });
  }

  /** Number of ids. */
  get size(): number {
    return this.vocab.size;
  }

  /**
   * The ids of one sentence.
   *
   * @param sentence Text.
   * @param opts `{ bos, eos }` markers (default none).
   * @returns The ids (`<unk>` for unseen words).
   */
  encode(sentence: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    return this.vocab.encode(words(sentence, this.#opts), opts);
  }

  /**
   * Encodes sentences to a rectangle of ids, padded with `<pad>` or truncated to `length`
   * (d2l's `truncate_pad` + `build_array_nmt`), with the number of non-padding ids of each.
   *
   * @param sentences The sentences.
   * @param opts `{ length, bos = false, eos = true }`.
   * @returns `{ ids: number[][], validLens: number[] }`.
   * @throws {RangeError} For a length that is not a positive integer.
   */
  encodeBatch(
    sentences: readonly string[],
    opts: EncodeBatchOptions,
  ): { ids: number[][]; validLens: number[] } {
    if (!Number.isInteger(opts.length) || opts.length < 1) {
      throw new RangeError(
        `WordVocab.encodeBatch: length must be a positive integer, got ${opts.length}`,
      );
    }
    const ids = sentences.map((s) => {
      const t = this.encode(s, { bos: opts.bos ?? false, eos: opts.eos ?? true }).slice(
        0,
        opts.length,
      );
      return [...t, ...new Array(opts.length - t.length).fill(this.vocab.pad)];
    });
    const validLens = ids.map((r) => r.filter((i) => i !== this.vocab.pad).length);
    return { ids, validLens };
  }

  /**
   * Decodes ids to words joined by spaces, dropping `<pad>`, `<bos>`, `<eos>` (and what follows
   * the first `<eos>`).
   *
   * @param ids Token ids.
   * @returns The sentence.
   * @throws {RangeError} For an id outside the vocabulary.
   */
  decode(ids: ArrayLike<number>): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === this.vocab.eos) break;
      const w = this.vocab.decode([ids[i]]);
      if (w) out.push(w);
    }
    return out.join(" ");
  }
}
