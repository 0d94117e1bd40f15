"""Fixtures of tests/models_seq_test.ts: the sequence families (recurrent language models over
torch.nn.RNN/LSTM/GRU, and GPT-2 written in plain torch against the Hugging Face key names),
with seeded random weights at small sizes, fixed inputs and the expected outputs.

Usage (Debian's python3 has torch 1.13; pyenv's python3 has no torch, and `transformers` is not
installable here):

    /usr/bin/python3 tools/make_seq_fixtures.py

Writes to tests/testdata/seq/:
  rnnlm_<name>.safetensors     the LM's state_dict() (`embedding.weight`, `rnn.weight_ih_l0`,
                               `rnn.weight_hh_l0_reverse`, `fc.weight`, ...)
  rnnlm_<name>_io.safetensors  `ids` i32[B, T] and `logits` f32[B, T, V]
  gpt2.safetensors             a small GPT-2 (GPT2Model's names: `wte.weight`, `wpe.weight`,
                               `h.0.ln_1.weight`, `h.0.attn.c_attn.weight` [in, out] Conv1D, ...,
                               `ln_f.bias`, plus the `h.N.attn.bias` causal-mask buffers that the
                               Hub's GPT-2 checkpoints hold)
  gpt2_io.safetensors          `ids` i32[B, T], `logits` f32[B, T, V] (tied lm_head) and
                               `greedy` i32[B, N]: the next N tokens of a greedy generation
  transformer.safetensors      PyTorch's translation tutorial's Seq2SeqTransformer: `transformer.…`
                               (torch.nn.Transformer's state_dict), `src_tok_emb.weight`,
                               `tgt_tok_emb.weight`, `generator.weight`
  transformer_io.safetensors   `src`, `tgt` i32 (0 = padding) and `logits` f32[B, T, V]
  bert.safetensors             BertForPreTraining's names (`bert.embeddings.word_embeddings.weight`,
                               `bert.encoder.layer.0.attention.self.query.weight`, ..., `cls.…`)
  bert_io.safetensors          `ids`, `types`, `mask` i32 and `hidden`, `pooled`, `mlm`, `nsp`
  seq2seq[_attention].safetensors  d2l's EncoderDecoder with a GRU Seq2SeqEncoder and a
                               Seq2SeqDecoder (Seq2SeqAttentionDecoder): `encoder.embedding.weight`,
                               `encoder.rnn.weight_ih_l0`, `decoder.dense.weight`,
                               `decoder.attention.W_q.weight`, ...
  seq2seq[_attention]_io.safetensors  `src`, `tgt`, `valid` i32 and `logits` f32[B, T, V]
(The BPE tokenizer's fixtures come from tools/make_bpe_fixtures.py, which needs `regex`.)
No safetensors package is needed: the writer below is the one of make_vision_fixtures_classic.py.
"""
import json
import math
import os
import struct

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "testdata", "seq")
DT = {torch.float32: "F32", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        t = t.detach().contiguous().cpu()
        b = t.numpy().tobytes()
        header[k] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print(f"{path}: {os.path.getsize(path)} bytes")


def randomize(model, seed=1234, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    for _, p in model.named_parameters():
        b = scale / math.sqrt(p.shape[-1]) if p.dim() > 1 else 0.2
        with torch.no_grad():
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * b)


# ---------------------------------------------------------------- recurrent LMs


class RnnLM(nn.Module):
    """d2l's RNNModel with an embedding (or one-hot) in front; batch-first."""

    def __init__(self, cell, vocab, hidden, layers=1, bidirectional=False, embed=None):
        super().__init__()
        self.vocab = vocab
        if embed is not None:
            self.embedding = nn.Embedding(vocab, embed)
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = cls(embed or vocab, hidden, layers, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), vocab)
        self.embed = embed

    def forward(self, ids):
        x = self.embedding(ids) if self.embed else nn.functional.one_hot(ids, self.vocab).float()
        y, _ = self.rnn(x)
        return self.fc(y)


RNN_LMS = {
    "rnn": dict(cell="rnn", vocab=11, hidden=6, embed=5),
    "lstm": dict(cell="lstm", vocab=11, hidden=6, embed=5),
    "gru_onehot": dict(cell="gru", vocab=11, hidden=6),
    "lstm_deep_bi": dict(cell="lstm", vocab=11, hidden=5, layers=2, bidirectional=True, embed=4),
    "gru_deep_bi": dict(cell="gru", vocab=11, hidden=5, layers=2, bidirectional=True, embed=4),
}


def rnn_lms():
    for i, (name, cfg) in enumerate(RNN_LMS.items()):
        torch.manual_seed(10 + i)
        m = RnnLM(**cfg)
        randomize(m, seed=100 + i, scale=1.5)
        ids = torch.randint(0, cfg["vocab"], (2, 7), generator=torch.Generator().manual_seed(7 + i))
        with torch.no_grad():
            logits = m(ids)
        save_safetensors(os.path.join(OUT, f"rnnlm_{name}.safetensors"), m.state_dict())
        save_safetensors(os.path.join(OUT, f"rnnlm_{name}_io.safetensors"),
                         {"ids": ids.int(), "logits": logits})


# ---------------------------------------------------------------- GPT-2 (Hugging Face names)


class Conv1D(nn.Module):
    """GPT-2's Conv1D: a linear layer whose weight is stored [in, out]."""

    def __init__(self, nf, nx):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        return x @ self.weight + self.bias


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Attn(nn.Module):
    def __init__(self, d, heads, n_pos):
        super().__init__()
        self.heads = heads
        self.c_attn = Conv1D(3 * d, d)
        self.c_proj = Conv1D(d, d)
        self.register_buffer("bias", torch.tril(torch.ones(n_pos, n_pos, dtype=torch.uint8)).view(1, 1, n_pos, n_pos))

    def forward(self, x):
        B, T, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        sh = lambda t: t.view(B, T, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = sh(q), sh(k), sh(v)
        w = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        w = w.masked_fill(self.bias[:, :, :T, :T] == 0, torch.finfo(w.dtype).min)
        y = w.softmax(-1) @ v
        return self.c_proj(y.transpose(1, 2).reshape(B, T, d))


class Mlp(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc = Conv1D(4 * d, d)
        self.c_proj = Conv1D(d, 4 * d)

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, d, heads, n_pos):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.attn = Attn(d, heads, n_pos)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.mlp = Mlp(d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    def __init__(self, vocab, n_pos, d, layers, heads):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(n_pos, d)
        self.h = nn.ModuleList([Block(d, heads, n_pos) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d, eps=1e-5)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1])
        x = self.wte(ids) + self.wpe(pos)
        for b in self.h:
            x = b(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied lm_head


def gpt2():
    torch.manual_seed(0)
    m = GPT2(vocab=23, n_pos=16, d=12, layers=2, heads=3)
    randomize(m, seed=77, scale=2.0)
    m.eval()
    ids = torch.randint(0, 23, (2, 5), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        logits = m(ids)
        seq = ids.clone()
        for _ in range(6):
            nxt = m(seq)[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], 1)
    save_safetensors(os.path.join(OUT, "gpt2.safetensors"), m.state_dict())
    save_safetensors(os.path.join(OUT, "gpt2_io.safetensors"),
                     {"ids": ids.int(), "logits": logits, "greedy": seq[:, 5:].int()})


# ---------------------------------------------------------------- torch.nn.Transformer seq2seq


def sinusoid(n, d):
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(d)
    angle = pos / torch.pow(10000.0, (i - i % 2).double() / d)
    return torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle)).float()


class Seq2SeqTransformer(nn.Module):
    """PyTorch's translation tutorial's model: embeddings * sqrt(d) + PE, nn.Transformer, generator."""

    def __init__(self, src_vocab, tgt_vocab, d, nhead, ne, nd, dff, max_len, pad):
        super().__init__()
        self.transformer = nn.Transformer(d, nhead, ne, nd, dff, dropout=0.0, batch_first=True)
        self.src_tok_emb = nn.Embedding(src_vocab, d)
        self.tgt_tok_emb = nn.Embedding(tgt_vocab, d)
        self.generator = nn.Linear(d, tgt_vocab)
        self.register_buffer("pe", sinusoid(max_len, d), persistent=False)
        self.d, self.pad = d, pad

    def forward(self, src, tgt):
        e = lambda emb, ids: emb(ids) * math.sqrt(self.d) + self.pe[: ids.shape[1]]
        T = tgt.shape[1]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        y = self.transformer(e(self.src_tok_emb, src), e(self.tgt_tok_emb, tgt), tgt_mask=causal,
                             src_key_padding_mask=src == self.pad, tgt_key_padding_mask=tgt == self.pad,
                             memory_key_padding_mask=src == self.pad)
        return self.generator(y)


def transformer():
    torch.manual_seed(3)
    m = Seq2SeqTransformer(13, 11, d=8, nhead=2, ne=2, nd=2, dff=16, max_len=20, pad=0)
    randomize(m, seed=33, scale=1.5)
    m.train()  # dropout is 0; train mode keeps PyTorch off its padded fast path
    src = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 2, 0, 0]])
    tgt = torch.tensor([[1, 5, 6, 2], [1, 7, 0, 0]])
    with torch.no_grad():
        logits = m(src, tgt)
    save_safetensors(os.path.join(OUT, "transformer.safetensors"), m.state_dict())
    save_safetensors(os.path.join(OUT, "transformer_io.safetensors"),
                     {"src": src.int(), "tgt": tgt.int(), "logits": logits})


# ---------------------------------------------------------------- BERT (Hugging Face names)


class BertSelf(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)


class DenseLN(nn.Module):
    def __init__(self, i, o, eps):
        super().__init__()
        self.dense = nn.Linear(i, o)
        self.LayerNorm = nn.LayerNorm(o, eps=eps)


class BertAttention(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.self = BertSelf(d)
        self.output = DenseLN(d, d, eps)


class Intermediate(nn.Module):
    def __init__(self, d, i):
        super().__init__()
        self.dense = nn.Linear(d, i)


class BertLayer(nn.Module):
    def __init__(self, d, inter, heads, eps):
        super().__init__()
        self.attention = BertAttention(d, eps)
        self.intermediate = Intermediate(d, inter)
        self.output = DenseLN(inter, d, eps)
        self.heads = heads

    def forward(self, h, ext):
        B, T, d = h.shape
        s = self.attention.self
        sh = lambda t: t.view(B, T, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = sh(s.query(h)), sh(s.key(h)), sh(s.value(h))
        sc = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads) + ext
        ctx = (sc.softmax(-1) @ v).transpose(1, 2).reshape(B, T, d)
        o = self.attention.output
        a = o.LayerNorm(h + o.dense(ctx))
        f = self.output.dense(nn.functional.gelu(self.intermediate.dense(a)))
        return self.output.LayerNorm(a + f)


class Embeddings(nn.Module):
    def __init__(self, V, d, P, types, eps):
        super().__init__()
        self.word_embeddings = nn.Embedding(V, d)
        self.position_embeddings = nn.Embedding(P, d)
        self.token_type_embeddings = nn.Embedding(types, d)
        self.LayerNorm = nn.LayerNorm(d, eps=eps)


class Encoder(nn.Module):
    def __init__(self, n, *a):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(*a) for _ in range(n)])


class Pooler(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.dense = nn.Linear(d, d)


class BertModel(nn.Module):
    def __init__(self, V=37, d=8, L=2, heads=2, inter=16, P=12, types=2, eps=1e-12):
        super().__init__()
        self.embeddings = Embeddings(V, d, P, types, eps)
        self.encoder = Encoder(L, d, inter, heads, eps)
        self.pooler = Pooler(d)

    def forward(self, ids, types, mask):
        e = self.embeddings
        T = ids.shape[1]
        h = e.LayerNorm(e.word_embeddings(ids) + e.token_type_embeddings(types) + e.position_embeddings(torch.arange(T)))
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for l in self.encoder.layer:
            h = l(h, ext)
        return h, torch.tanh(self.pooler.dense(h[:, 0]))


class Transform(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.dense = nn.Linear(d, d)
        self.LayerNorm = nn.LayerNorm(d, eps=eps)


class Predictions(nn.Module):
    def __init__(self, d, V, eps):
        super().__init__()
        self.transform = Transform(d, eps)
        self.bias = nn.Parameter(torch.zeros(V))


class Cls(nn.Module):
    def __init__(self, d, V, eps):
        super().__init__()
        self.predictions = Predictions(d, V, eps)
        self.seq_relationship = nn.Linear(d, 2)


class BertForPreTraining(nn.Module):
    def __init__(self):
        super().__init__()
        self.bert = BertModel()
        self.cls = Cls(8, 37, 1e-12)

    def forward(self, ids, types, mask):
        h, pooled = self.bert(ids, types, mask)
        t = self.cls.predictions.transform
        z = t.LayerNorm(nn.functional.gelu(t.dense(h)))
        mlm = z @ self.bert.embeddings.word_embeddings.weight.T + self.cls.predictions.bias
        return h, pooled, mlm, self.cls.seq_relationship(pooled)


def bert():
    torch.manual_seed(4)
    m = BertForPreTraining()
    randomize(m, seed=44, scale=1.5)
    ids = torch.tensor([[2, 5, 9, 3, 11, 3], [2, 7, 3, 0, 0, 0]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]])
    mask = (ids != 0).int()
    with torch.no_grad():
        h, pooled, mlm, nsp = m(ids, types, mask)
    save_safetensors(os.path.join(OUT, "bert.safetensors"), m.state_dict())
    save_safetensors(os.path.join(OUT, "bert_io.safetensors"),
                     {"ids": ids.int(), "types": types.int(), "mask": mask, "hidden": h,
                      "pooled": pooled, "mlm": mlm, "nsp": nsp})


# ---------------------------------------------------------------- d2l's GRU seq2seq (+ Bahdanau)


def masked_softmax(X, valid_lens):
    """d2l's masked_softmax (valid_lens [B])."""
    if valid_lens is None:
        return nn.functional.softmax(X, dim=-1)
    shape = X.shape
    valid_lens = torch.repeat_interleave(valid_lens, shape[1])
    X = X.reshape(-1, shape[-1])
    mask = torch.arange(shape[-1])[None, :] < valid_lens[:, None]
    X[~mask] = -1e6
    return nn.functional.softmax(X.reshape(shape), dim=-1)


class AdditiveAttention(nn.Module):
    def __init__(self, key_size, query_size, num_hiddens):
        super().__init__()
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)

    def forward(self, queries, keys, values, valid_lens):
        queries, keys = self.W_q(queries), self.W_k(keys)
        features = torch.tanh(queries.unsqueeze(2) + keys.unsqueeze(1))
        scores = self.w_v(features).squeeze(-1)
        return torch.bmm(masked_softmax(scores, valid_lens), values)


class Seq2SeqEncoder(nn.Module):
    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = nn.GRU(embed, hidden, layers)

    def forward(self, X):
        return self.rnn(self.embedding(X).permute(1, 0, 2))  # time-major


class Seq2SeqDecoder(nn.Module):
    """d2l's decoder; the context is the encoder's top final state (d2l 1.0)."""

    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = nn.GRU(embed + hidden, hidden, layers)
        self.dense = nn.Linear(hidden, vocab)

    def forward(self, X, enc_state):
        X = self.embedding(X).permute(1, 0, 2)
        context = enc_state[-1].repeat(X.shape[0], 1, 1)
        out, _ = self.rnn(torch.cat((X, context), 2), enc_state)
        return self.dense(out).permute(1, 0, 2)


class Seq2SeqAttentionDecoder(nn.Module):
    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.attention = AdditiveAttention(hidden, hidden, hidden)
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = nn.GRU(embed + hidden, hidden, layers)
        self.dense = nn.Linear(hidden, vocab)

    def forward(self, X, enc_outputs, hidden_state, enc_valid_lens):
        enc_outputs = enc_outputs.permute(1, 0, 2)
        X = self.embedding(X).permute(1, 0, 2)
        outputs = []
        for x in X:
            query = torch.unsqueeze(hidden_state[-1], dim=1)
            context = self.attention(query, enc_outputs, enc_outputs, enc_valid_lens)
            x = torch.cat((context, torch.unsqueeze(x, dim=1)), dim=-1)
            out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)
            outputs.append(out)
        return self.dense(torch.cat(outputs, dim=0)).permute(1, 0, 2)


class EncoderDecoder(nn.Module):
    def __init__(self, attention):
        super().__init__()
        self.encoder = Seq2SeqEncoder(13, 6, 8, 2)
        dec = Seq2SeqAttentionDecoder if attention else Seq2SeqDecoder
        self.decoder = dec(11, 6, 8, 2)
        self.attention = attention

    def forward(self, src, tgt, valid_lens):
        outputs, state = self.encoder(src)
        if self.attention:
            return self.decoder(tgt, outputs, state, valid_lens)
        return self.decoder(tgt, state)


def seq2seq():
    src = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 2, 1, 1]])
    valid = torch.tensor([5, 3])
    tgt = torch.tensor([[1, 5, 6, 2], [1, 7, 3, 0]])
    for i, att in enumerate([False, True]):
        torch.manual_seed(5 + i)
        m = EncoderDecoder(att)
        randomize(m, seed=55 + i, scale=1.5)
        with torch.no_grad():
            logits = m(src, tgt, valid)
        name = "seq2seq_attention" if att else "seq2seq"
        save_safetensors(os.path.join(OUT, f"{name}.safetensors"), m.state_dict())
        save_safetensors(os.path.join(OUT, f"{name}_io.safetensors"),
                         {"src": src.int(), "tgt": tgt.int(), "valid": valid.int(), "logits": logits})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.set_grad_enabled(True)
    rnn_lms()
    gpt2()
    transformer()
    bert()
    seq2seq()
