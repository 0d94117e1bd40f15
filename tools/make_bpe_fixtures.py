"""Fixtures of the GPT-2 byte-level BPE tokenizer (data/bpe.ts, tests/models_seq_test.ts): a tiny
vocabulary in GPT-2's file formats and the ids OpenAI's GPT-2 `encoder.py` gives for a few
sentences (contractions, digits, runs of spaces, tabs and newlines, accents, an emoji).

Usage (needs the `regex` package for `\\p{L}`: pyenv's python3 has it, Debian's has not):

    python3 tools/make_bpe_fixtures.py

Writes to tests/testdata/seq/:
  bpe_vocab.json, bpe_merges.txt  the 256 byte symbols in GPT-2's id order ("!" = 0, "\\n" = 198, " " = 220), then the results of 80
                                  merges learned on a paragraph of The Time Machine, and
                                  `<|endoftext|>`; merges.txt with GPT-2's `#version: 0.2` header
  bpe_cases.json                  [{text, ids}] by the encoder below (OpenAI's algorithm)
"""
import json
import os

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "testdata", "seq")


# ---------------------------------------------------------------- GPT-2 byte-level BPE


def bytes_to_unicode():
    """OpenAI's encoder.py."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def get_pairs(word):
    return set(zip(word, word[1:]))


class Gpt2BpeEncoder:
    """OpenAI's GPT-2 encoder.py (encode/decode), verbatim in substance."""

    def __init__(self, encoder, bpe_merges):
        import regex
        self.encoder = encoder
        self.decoder = {v: k for k, v in encoder.items()}
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        self.bpe_ranks = dict(zip(bpe_merges, range(len(bpe_merges))))
        self.pat = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def bpe(self, token):
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        return " ".join(word)

    def encode(self, text):
        import regex
        out = []
        for token in regex.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            out.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return out


BPE_CORPUS = (
    "The Time Traveller (for so it will be convenient to speak of him) was expounding a recondite "
    "matter to us. His grey eyes shone and twinkled, and his usually pale face was flushed and "
    "animated. The fire burned brightly, and the soft radiance of the incandescent lights in the "
    "lilies of silver caught the bubbles that flashed and passed in our glasses. It's 1895, they'll say."
)
BPE_CASES = [
    "The Time Traveller was expounding a recondite matter.",
    "It's the year 1895; they'll say we've flashed.",
    "  two spaces,\ttabs\nand newlines\n\n",
    "naïve café — déjà vu 😀!",
    "THE TIME traveller's 12345 glasses",
]


def learn_merges(text, n_merges):
    """A tiny byte-level BPE learner over GPT-2 pre-tokens (most frequent pair first)."""
    import regex
    be = bytes_to_unicode()
    pat = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
    words = {}
    for tok in regex.findall(pat, text):
        w = tuple(be[b] for b in tok.encode("utf-8"))
        words[w] = words.get(w, 0) + 1
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w, c in words.items():
            for p in zip(w, w[1:]):
                counts[p] = counts.get(p, 0) + c
        if not counts:
            break
        best = max(sorted(counts), key=lambda p: counts[p])
        merges.append(best)
        new = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    return merges


def bpe():
    be = bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(be.values())}  # GPT-2's first 256 ids: printable bytes first
    merges = learn_merges(BPE_CORPUS, 80)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab["<|endoftext|>"] = len(vocab)
    with open(os.path.join(OUT, "bpe_vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(OUT, "bpe_merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    enc = Gpt2BpeEncoder(vocab, merges)
    cases = [{"text": t, "ids": enc.encode(t)} for t in BPE_CASES]
    with open(os.path.join(OUT, "bpe_cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
    print("bpe:", len(vocab), "tokens,", len(merges), "merges")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    bpe()
