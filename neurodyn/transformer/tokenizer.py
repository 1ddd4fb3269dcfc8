"""Byte-level byte-pair encoding (BPE), as in GPT-2 (Sennrich et al. 2016; Radford et al. 2019).

Text is UTF-8 bytes, so the base vocabulary is the 256 byte values (ids 0..255) and any
string, including characters never seen in training, round-trips losslessly. Training
repeatedly merges the most frequent adjacent pair of tokens into a new token (ids 256, 257,
...), counting pairs only inside pre-tokens ("words") so merges never cross word
boundaries. Special tokens (e.g. "<|endoftext|>") take the last ids.

    ids:  0 .. 255 | 256 .. 256 + n_merges - 1 | then one id per special token

Two pre-tokenizers split text into words before BPE:
- "gpt2": GPT-2's pattern (contractions, " word", " 123", " punctuation", whitespace),
  written here with Python's `re` (letters are `[^\\W\\d_]`). A space sticks to the word
  that follows it, so " hug" and "hug" are different words.
- "whitespace": words and whitespace runs are separate pre-tokens, so "hug hug" counts
  the word "hug" twice. This is the word-level view of the Hugging Face course example
  (words "hug"×10, "pug"×5, "pun"×12, "bun"×4, "hugs"×5 → merges "ug", "un", "hug"):
  training on that text reproduces it, with every token being bytes (b"u" is byte 0x75).

Encoding applies merges in the order they were learned (lowest rank first) inside each
word and caches each distinct word's encoding, which is what makes it fast on real text.
"""

from __future__ import annotations

import collections
import json
import re
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from neurodyn._checks import check_int

# GPT-2's pre-tokenizer pattern with Unicode classes spelled for Python's `re`
# (\p{L} -> [^\W\d_], \p{N} -> \d, and '_' counts as punctuation). Every character is
# matched by one branch, so joining the pre-tokens gives back the text.
GPT2_PATTERN = re.compile(
    r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
)
WHITESPACE_PATTERN = re.compile(r"""[^\W_]+|\s+|[^\w\s]+|_+""")
PRETOKENIZERS = {"gpt2": GPT2_PATTERN, "whitespace": WHITESPACE_PATTERN}

N_BYTES = 256


def _merge_word(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    """Replace every non-overlapping occurrence of `pair` in `word` (left to right)."""
    out = []
    i = 0
    n = len(word)
    while i < n:
        if i < n - 1 and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


class BPETokenizer:
    """A trained byte-level BPE tokenizer: merges, special tokens and a pre-tokenizer.

    Build one with `BPETokenizer.train(text, vocab_size)` or
    `BPETokenizer.train_from_word_counts(counts, vocab_size)`, or load one with
    `BPETokenizer.load(path)`.

    Attributes:
        merges: the learned merges in order, as pairs of token ids; merge r creates id 256 + r.
        special_tokens: strings that map to the last ids and are never split.
        pretokenizer: "gpt2" or "whitespace" (see the module docstring).
    """

    def __init__(
        self,
        merges: Sequence[tuple[int, int]] = (),
        special_tokens: Sequence[str] = (),
        pretokenizer: Literal["gpt2", "whitespace"] = "gpt2",
    ):
        if pretokenizer not in PRETOKENIZERS:
            raise ValueError(
                f"pretokenizer must be one of {sorted(PRETOKENIZERS)}, got {pretokenizer!r}"
            )
        if len(set(special_tokens)) != len(special_tokens) or any(
            not s for s in special_tokens
        ):
            raise ValueError(f"special_tokens must be distinct non-empty strings, got {special_tokens!r}")
        self.merges: list[tuple[int, int]] = [(int(a), int(b)) for a, b in merges]
        self.special_tokens: list[str] = list(special_tokens)
        self.pretokenizer = pretokenizer
        self._pattern = PRETOKENIZERS[pretokenizer]
        # token id -> bytes, and merge pair -> rank (rank r produces id 256 + r).
        self.vocab: list[bytes] = [bytes([i]) for i in range(N_BYTES)]
        for r, (a, b) in enumerate(self.merges):
            if not (0 <= a < N_BYTES + r and 0 <= b < N_BYTES + r):
                raise ValueError(
                    f"merge {r} = {(a, b)} refers to an id outside [0, {N_BYTES + r}): "
                    "a merge may only use bytes and earlier merges"
                )
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self.ranks: dict[tuple[int, int], int] = {p: r for r, p in enumerate(self.merges)}
        first_special = N_BYTES + len(self.merges)
        self.special_ids: dict[str, int] = {
            s: first_special + i for i, s in enumerate(self.special_tokens)
        }
        self._special_pattern = (
            re.compile("(" + "|".join(re.escape(s) for s in sorted(self.special_tokens, key=len, reverse=True)) + ")")
            if self.special_tokens
            else None
        )
        self._cache: dict[str, tuple[int, ...]] = {}

    # ------------------------------------------------------------------ sizes
    @property
    def vocab_size(self) -> int:
        """Number of token ids: 256 bytes + merges + special tokens."""
        return N_BYTES + len(self.merges) + len(self.special_tokens)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return (
            f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={self.special_tokens!r}, pretokenizer={self.pretokenizer!r})"
        )

    # --------------------------------------------------------------- training
    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        *,
        special_tokens: Sequence[str] = (),
        pretokenizer: Literal["gpt2", "whitespace"] = "gpt2",
    ) -> BPETokenizer:
        """Learn merges from `text` until the vocabulary has `vocab_size` ids.

        Arguments:
            text: training text (non-empty). Special tokens in it are not split into words.
            vocab_size: target size, at least 256 + len(special_tokens).
            special_tokens: strings given their own ids after the merges.
            pretokenizer: "gpt2" or "whitespace".

        If the text runs out of pairs to merge before reaching `vocab_size`, a warning says
        how many ids were learned; the tokenizer's `vocab_size` is then smaller than asked.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if not text:
            raise ValueError("text is empty: BPE needs at least one character to train on")
        if pretokenizer not in PRETOKENIZERS:
            raise ValueError(
                f"pretokenizer must be one of {sorted(PRETOKENIZERS)}, got {pretokenizer!r}"
            )
        pattern = PRETOKENIZERS[pretokenizer]
        chunks = [text]
        if special_tokens:
            special = re.compile("|".join(re.escape(s) for s in special_tokens))
            chunks = special.split(text)
        counts: collections.Counter[str] = collections.Counter()
        for chunk in chunks:
            counts.update(pattern.findall(chunk))
        return cls.train_from_word_counts(
            counts, vocab_size, special_tokens=special_tokens, pretokenizer=pretokenizer
        )

    @classmethod
    def train_from_word_counts(
        cls,
        word_counts: Mapping[str | bytes, int],
        vocab_size: int,
        *,
        special_tokens: Sequence[str] = (),
        pretokenizer: Literal["gpt2", "whitespace"] = "gpt2",
    ) -> BPETokenizer:
        """Learn merges from pre-counted words, e.g. {"hug": 10, "pug": 5, ...}.

        Each word is split into its UTF-8 bytes; the most frequent adjacent pair (summed over
        words, weighted by count) is merged, ties broken by the smaller pair of ids so that
        training is deterministic. Pair counts are updated incrementally: only words that
        contain the merged pair are revisited.
        """
        min_size = N_BYTES + len(special_tokens)
        check_int("vocab_size", vocab_size, lower=min_size,
                  meaning=f"256 + len(special_tokens): 256 byte tokens + {len(special_tokens)} special")
        if not word_counts or all(c <= 0 for c in word_counts.values()):
            raise ValueError("word_counts is empty: BPE needs at least one word to train on")
        n_merges = vocab_size - min_size

        words: list[list[int]] = []
        freqs: list[int] = []
        for w, c in word_counts.items():
            if c <= 0:
                continue
            b = w.encode("utf-8") if isinstance(w, str) else bytes(w)
            if b:
                words.append(list(b))
                freqs.append(int(c))

        pair_counts: collections.Counter[tuple[int, int]] = collections.Counter()
        where: dict[tuple[int, int], set[int]] = collections.defaultdict(set)
        for i, w in enumerate(words):
            for pair in zip(w, w[1:]):
                pair_counts[pair] += freqs[i]
                where[pair].add(i)

        merges: list[tuple[int, int]] = []
        for r in range(n_merges):
            if not pair_counts:
                break
            # Most frequent pair; ties -> smallest ids (deterministic).
            best = max(pair_counts.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))[0]
            if pair_counts[best] <= 0:
                break
            new_id = N_BYTES + r
            merges.append(best)
            for i in list(where[best]):
                w, f = words[i], freqs[i]
                for pair in zip(w, w[1:]):
                    pair_counts[pair] -= f
                    if pair_counts[pair] <= 0:
                        del pair_counts[pair]
                new_w = list(_merge_word(tuple(w), best, new_id))
                words[i] = new_w
                for pair in zip(new_w, new_w[1:]):
                    pair_counts[pair] += f
                    where[pair].add(i)
            del where[best]
            pair_counts.pop(best, None)

        if len(merges) < n_merges:
            warnings.warn(
                f"BPE training ran out of pairs to merge after {len(merges)} merges: "
                f"vocab_size is {min_size + len(merges)}, not the {vocab_size} asked for "
                "(train on more text to reach it)",
                stacklevel=2,
            )
        return cls(merges, special_tokens, pretokenizer)

    # --------------------------------------------------------------- encoding
    def _encode_word(self, word: str) -> tuple[int, ...]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        ids = tuple(word.encode("utf-8"))
        ranks = self.ranks
        while len(ids) > 1:
            # The adjacent pair that was learned first is merged first (GPT-2's rule).
            best_rank, best_pair = None, None
            for pair in zip(ids, ids[1:]):
                r = ranks.get(pair)
                if r is not None and (best_rank is None or r < best_rank):
                    best_rank, best_pair = r, pair
            if best_pair is None:
                break
            ids = _merge_word(ids, best_pair, N_BYTES + best_rank)
        if len(self._cache) < 1_000_000:
            self._cache[word] = ids
        return ids

    def encode(self, text: str, *, allow_special: bool = True) -> list[int]:
        """Token ids of `text`.

        Arguments:
            text: any string (may be empty, giving []).
            allow_special: if True, occurrences of special tokens become their ids;
                if False they are encoded as ordinary text.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        out: list[int] = []
        if allow_special and self._special_pattern is not None:
            parts = self._special_pattern.split(text)
        else:
            parts = [text]
        encode_word = self._encode_word
        for k, part in enumerate(parts):
            if k % 2 == 1:  # a special token (re.split keeps the captured separators)
                out.append(self.special_ids[part])
                continue
            for word in self._pattern.findall(part):
                out.extend(encode_word(word))
        return out

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes that `ids` stand for (special tokens as their UTF-8 text)."""
        n = self.vocab_size
        n_plain = len(self.vocab)
        chunks = []
        for t in ids:
            t = int(t)
            if 0 <= t < n_plain:
                chunks.append(self.vocab[t])
            elif n_plain <= t < n:
                chunks.append(self.special_tokens[t - n_plain].encode("utf-8"))
            else:
                raise ValueError(f"token id {t} is out of range: ids must be in [0, {n})")
        return b"".join(chunks)

    def decode(self, ids: Iterable[int], *, errors: str = "replace") -> str:
        """Text of `ids`. Byte sequences that are not valid UTF-8 (possible for sampled
        ids) become U+FFFD with errors="replace"; pass errors="strict" to raise instead."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def token_strings(self, ids: Iterable[int]) -> list[str]:
        """A readable string per token (for plots): bytes decoded with replacement."""
        return [self.decode([t]) for t in ids]

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the tokenizer as a JSON file (merges as id pairs) with a sha256 of its
        contents, atomically (temporary name, fsync, rename)."""
        from neurodyn.io._atomic import sha256, write_atomic

        data = {
            "format": "neurodyn-bpe-2",
            "pretokenizer": self.pretokenizer,
            "special_tokens": self.special_tokens,
            "merges": [list(p) for p in self.merges],
        }
        data["sha256"] = sha256(json.dumps(data, sort_keys=True).encode())
        write_atomic(path, json.dumps(data, indent=0).encode("utf-8"))

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read a tokenizer written by `save`; a truncated or altered file raises
        `neurodyn.io.DamagedFileError` naming it."""
        from neurodyn.io._atomic import DamagedFileError, sha256

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer file at {path}")
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise DamagedFileError(f"{path} is damaged (not complete JSON: {e})") from None
        fmt = data.get("format") if isinstance(data, dict) else None
        if fmt not in ("neurodyn-bpe-1", "neurodyn-bpe-2"):
            raise ValueError(f"{path} is not a neurodyn BPE tokenizer file")
        if fmt == "neurodyn-bpe-2":  # -1 files (neurodyn 0.1.0) carry no checksum
            stored = data.pop("sha256", None)
            if stored != sha256(json.dumps(data, sort_keys=True).encode()):
                raise DamagedFileError(f"{path} is damaged: its contents do not match their checksum")
        try:
            return cls([tuple(p) for p in data["merges"]], data["special_tokens"], data["pretokenizer"])
        except (KeyError, TypeError, ValueError) as e:
            raise DamagedFileError(f"{path} is damaged: {type(e).__name__}: {e}") from None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BPETokenizer)
            and self.merges == other.merges
            and self.special_tokens == other.special_tokens
            and self.pretokenizer == other.pretokenizer
        )

    __hash__ = None  # mutable cache inside; compare by content


def encoder_throughput(tokenizer: BPETokenizer, text: str, *, repeats: int = 1) -> dict:
    """Measure encoding speed on `text` with a cold cache: MB/s and tokens/s."""
    best = float("inf")
    n_tokens = 0
    for _ in range(repeats):
        tokenizer._cache.clear()
        t0 = time.perf_counter()
        n_tokens = len(tokenizer.encode(text))
        best = min(best, time.perf_counter() - t0)
    n_bytes = len(text.encode("utf-8"))
    return {
        "bytes": n_bytes,
        "tokens": n_tokens,
        "seconds": best,
        "mb_per_s": n_bytes / best / 1e6,
        "tokens_per_s": n_tokens / best,
    }
