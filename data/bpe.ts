/**
 * GPT-2's byte-level BPE tokenizer (Radford et al. 2019; OpenAI's `encoder.py`, Hugging Face's
 * `GPT2Tokenizer`), reading the `vocab.json` + `merges.txt` pair that GPT-2 checkpoints ship:
 * text is split by GPT-2's pre-tokenisation pattern, every piece's UTF-8 bytes are mapped to
 * printable characters by GPT-2's byte-to-unicode table, and the merges are applied by rank.
 * Every byte string round-trips, so no input is ever "unknown".
 *
 * (npm's maintained BPE packages either embed OpenAI's fixed encodings — `gpt-tokenizer` — or
 * read Hugging Face's `tokenizer.json` — `@huggingface/tokenizers` 0.x — so this small,
 * dependency-free implementation reads the GPT-2 files directly.)
 *
 * @module
 */

/** GPT-2's pre-tokenisation pattern: contractions, letters, digits, other symbols, spaces. */
export const GPT2_PATTERN: RegExp =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * GPT-2's `bytes_to_unicode`: the printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) map to
 * themselves, the other 68 bytes to U+0100… in order, so every byte is a visible character.
 *
 * @returns An array of 256 one-character strings, indexed by byte.
 * @example
 * ```ts
 * import { bytesToUnicode } from "@denax/denax/data";
 * const t = bytesToUnicode();
 * const shown = [t[0x20], t[0x41], t[0x0a]].join(" ");
 * console.log(shown); // Ġ A Ċ
 * if (shown !== "Ġ A Ċ") throw new Error(`got ${shown}`);
 * ```
 */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const out = new Array<string>(256);
  for (const b of bs) out[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (out[b] === undefined) out[b] = String.fromCodePoint(256 + n++);
  }
  return out;
}

/**
 * A byte-level BPE tokenizer over a GPT-2 vocabulary and merge list.
 *
 * @example
 * ```ts
 * import { BpeTokenizer } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * // a toy vocabulary: the 256 byte symbols, then the merges "h e" → "he", "Ġ w" → "Ġw"
 * const bytes = Object.fromEntries(
 *   BpeTokenizer.byteSymbols().map((s, i) => [s, i]),
 * );
 * const tok = new BpeTokenizer({ ...bytes, he: 256, "Ġw": 257 }, [["h", "e"], ["Ġ", "w"]]);
 * assertEquals(tok.encode("he w"), [256, 257]);
 * assertEquals(tok.decode([256, 257]), "he w");
 * ```
 */
export class BpeTokenizer {
  /** Token → id (`vocab.json`). */
  readonly encoder: ReadonlyMap<string, number>;
  /** Id → token. */
  readonly decoder: readonly string[];
  #ranks: Map<string, number>;
  #byteEncoder: string[];
  #byteDecoder: Map<string, number>;
  #cache = new Map<string, string[]>();

  /**
   * Makes a tokenizer from a parsed vocabulary and merge list (see {@link BpeTokenizer.fromFiles}
   * for the files themselves).
   *
   * @param vocab Token → id, as `vocab.json`.
   * @param merges Merge pairs in rank order, as the lines of `merges.txt` after its header.
   * @throws {RangeError} For duplicate ids, or a merge whose result is not in the vocabulary.
   */
  constructor(
    vocab: Readonly<Record<string, number>>,
    merges: readonly (readonly [string, string])[],
  ) {
    this.encoder = new Map(Object.entries(vocab));
    const dec: string[] = [];
    for (const [t, id] of this.encoder) {
      if (!Number.isInteger(id) || id < 0 || dec[id] !== undefined) {
        throw new RangeError(
          `BpeTokenizer: id ${id} of ${JSON.stringify(t)} is invalid or repeated`,
        );
      }
      dec[id] = t;
    }
    this.decoder = dec;
    this.#ranks = new Map(merges.map(([a, b], i) => [`${a} ${b}`, i]));
    for (const [a, b] of merges) {
      if (!this.encoder.has(a + b)) {
        throw new RangeError(
          `BpeTokenizer: the merge "${a} ${b}" makes ${
            JSON.stringify(a + b)
          }, which is not in the vocabulary`,
        );
      }
    }
    this.#byteEncoder = bytesToUnicode();
    this.#byteDecoder = new Map(this.#byteEncoder.map((c, b) => [c, b]));
  }

  /** The 256 byte symbols of GPT-2's table, indexed by byte (GPT-2's vocabulary gives them ids in its own order). */
  static byteSymbols(): string[] {
    return bytesToUnicode();
  }

  /**
   * Reads GPT-2's `vocab.json` and `merges.txt` (the latter's `#version` header is skipped).
   *
   * @param vocabJson The text of `vocab.json`.
   * @param mergesTxt The text of `merges.txt`.
   * @returns The tokenizer.
   * @throws {SyntaxError} For malformed JSON or a merge line that is not two symbols.
   */
  static fromFiles(vocabJson: string, mergesTxt: string): BpeTokenizer {
    const vocab = JSON.parse(vocabJson) as Record<string, number>;
    const merges: [string, string][] = [];
    mergesTxt.split("\n").forEach((line, i) => {
      if (line.startsWith("#version") || line.trim() === "") return;
      const parts = line.replace(/\r$/, "").split(" ");
      if (parts.length !== 2) {
        throw new SyntaxError(
          `BpeTokenizer: merges.txt line ${i + 1} is not two symbols: ${JSON.stringify(line)}`,
        );
      }
      merges.push([parts[0], parts[1]]);
    });
    return new BpeTokenizer(vocab, merges);
  }

  /** Number of ids. */
  get size(): number {
    return this.decoder.length;
  }

  /** The BPE of one pre-token (already byte-mapped): merges by rank until none applies. */
  #bpe(token: string): string[] {
    const hit = this.#cache.get(token);
    if (hit) return hit;
    let word = Array.from(token);
    while (word.length > 1) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const r = this.#ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const [a, b] = [word[best], word[best + 1]];
      const next: string[] = [];
      for (let i = 0; i < word.length;) {
        if (i + 1 < word.length && word[i] === a && word[i + 1] === b) {
          next.push(a + b);
          i += 2;
        } else next.push(word[i++]);
      }
      word = next;
    }
    this.#cache.set(token, word);
    return word;
  }

  /**
   * Encodes text as token ids.
   *
   * @param text Any string.
   * @returns The ids.
   * @throws {RangeError} When a symbol the merges leave is not in the vocabulary (a vocabulary
   *   without all 256 byte symbols).
   */
  encode(text: string): number[] {
    const ids: number[] = [];
    const utf8 = new TextEncoder();
    for (const m of text.matchAll(GPT2_PATTERN)) {
      const mapped = Array.from(utf8.encode(m[0]), (b) => this.#byteEncoder[b]).join("");
      for (const t of this.#bpe(mapped)) {
        const id = this.encoder.get(t);
        if (id === undefined) {
          throw new RangeError(
            `BpeTokenizer.encode: the symbol ${JSON.stringify(t)} (of ${
              JSON.stringify(m[0])
            }) is not in the vocabulary of ${this.size}`,
          );
        }
        ids.push(id);
      }
    }
    return ids;
  }

  /**
   * Decodes ids back to text (invalid UTF-8 from a cut multi-byte character becomes U+FFFD).
   *
   * @param ids Token ids.
   * @returns The text.
   * @throws {RangeError} For an id outside the vocabulary.
   */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const t = this.decoder[ids[i]];
      if (t === undefined) {
        throw new RangeError(
          `BpeTokenizer.decode: id ${
            ids[i]
          } at position ${i} is outside the vocabulary of ${this.size}`,
        );
      }
      for (const c of t) {
        const b = this.#byteDecoder.get(c);
        if (b === undefined) {
          throw new RangeError(`BpeTokenizer.decode: token ${JSON.stringify(t)} is not byte-level`);
        }
        bytes.push(b);
      }
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  }
}
