"""The CLIP Interrogator: a caption, then phrases ranked by CLIP similarity to the image.

It does not invert CLIP's image encoder (nothing can: an image of 150,528 numbers
went into a few hundred). It ranks phrase banks against the image embedding and
chains the best under the text encoder's context length; every result carries
its cosine similarity to the image (with OpenAI's CLIP a matching caption
typically scores around 0.3, far from the 1.0 an inverse would give; no real
weights could be fetched where shiftkit is tested, so that figure is not ours).

The four modes of clip-interrogator 0.6, with its two faults mended:

- ``fast``: the caption, then the top phrases of all banks merged, cut to fit;
- ``classic``: caption, medium, artist, site, movement and the top flavours;
- ``best``: a greedy chain (at each step, append the phrase whose addition raises
  the whole prompt's similarity most, over the top ``flavor_candidates`` phrases),
  then the best of caption, classic, fast and chain;
- ``negative``: the same chain towards the least similar flavours and defects.

Mended: the chain's candidate prompts (up to 2,048 a step) go through the encoder
in batches sized by its memory budget, not in one batch; large banks are ranked
exactly (`top_k`), ``reverse`` included. Candidates that would not fit the
context are not considered, so the prompt returned is the text that was scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from shiftkit.image._banks import POSITIVE_BANKS, PhraseBank, load_banks
from shiftkit.image._cache import bank_embeddings, default_cache_dir
from shiftkit.image._encoders import Encoder
from shiftkit.image._rank import top_k

MODES = ("best", "fast", "classic", "negative")
CLASSIC_ORDER = ("mediums", "artists", "sites", "movements")
"""The banks whose best phrase classic mode adds, in its order (then other banks, then flavours)."""
_DEFAULT = object()


class Captioner(Protocol):
    """Anything that captions a batch of PIL images."""

    def caption(self, images: Sequence[Any]) -> list[str]: ...


@dataclass(frozen=True)
class Ranked:
    """A phrase, the bank it came from and its cosine similarity to the image."""

    phrase: str
    similarity: float
    bank: str


@dataclass
class Interrogation:
    """What the interrogator made of one image.

    ``similarity`` is the cosine similarity of the whole ``prompt`` to the image,
    ``caption_similarity`` that of the caption alone (None without a caption),
    ``terms`` the phrases the prompt added, each with its own similarity, and
    ``candidates`` (mode ``best``) the similarity of each prompt it chose between.
    """

    prompt: str
    similarity: float
    mode: str
    caption: str | None = None
    caption_similarity: float | None = None
    terms: list[Ranked] = field(default_factory=list)
    candidates: dict[str, float] = field(default_factory=dict)


class Interrogator:
    """Rank phrase banks against images with an `Encoder` and build prompts.

    Parameters
    ----------
    encoder : Encoder
        E.g. `OpenCLIPEncoder`.
    banks : mapping of name to PhraseBank, optional
        Default: `load_banks()` (every bank shipped with shiftkit).
    captioner : Captioner, optional
        Captions images when no caption is given (e.g. `BlipCaptioner`).
    cache_dir : path-like or None
        Where bank embeddings are cached (default `default_cache_dir()`; None: no cache).
    flavor_candidates : int
        Phrases the ``best`` and ``negative`` chains choose among (the reference's 2,048).
    """

    def __init__(
        self,
        encoder: Encoder,
        banks: Mapping[str, PhraseBank] | None = None,
        *,
        captioner: Captioner | None = None,
        cache_dir: Any = _DEFAULT,
        flavor_candidates: int = 2048,
    ) -> None:
        if not isinstance(encoder, Encoder):
            raise TypeError(f"encoder must satisfy shiftkit.image.Encoder, got {type(encoder).__name__}")
        if not isinstance(flavor_candidates, int) or flavor_candidates < 1:
            raise ValueError(f"flavor_candidates must be a positive integer, got {flavor_candidates!r}")
        self.encoder = encoder
        self.banks = dict(load_banks() if banks is None else banks)
        self.captioner = captioner
        self.cache_dir = default_cache_dir() if cache_dir is _DEFAULT else cache_dir
        self.flavor_candidates = flavor_candidates
        self._embeddings: dict[str, Tensor] = {}
        self._stacks: dict[tuple[str, ...], tuple[Tensor, list[str], list[str]]] = {}

    # -- the banks -----------------------------------------------------------------------------
    def embeddings(self, bank: str) -> Tensor:
        """(len, d) unit text embeddings of a bank's phrases (cached on disk and in memory)."""
        if bank not in self.banks:
            raise ValueError(f"no phrase bank {bank!r}; this interrogator has {', '.join(self.banks)}")
        if bank not in self._embeddings:
            self._embeddings[bank] = bank_embeddings(self.encoder, self.banks[bank], self.cache_dir)
        return self._embeddings[bank]

    def positive_banks(self) -> list[str]:
        """The banks that describe an image: every bank but ``negative``."""
        return [name for name in self.banks if name != "negative"]

    def rank(
        self, features: Tensor, banks: Sequence[str] | None = None, k: int = 1, reverse: bool = False
    ) -> list[Ranked]:
        """The ``k`` phrases of ``banks`` (merged; default the positive banks) most similar to one image."""
        names = tuple(self.positive_banks() if banks is None else banks)
        if not names:
            return []
        E, owner, phrases = self._merged(names)
        sims, idx = top_k(_one(features), E, k, reverse=reverse)
        return [Ranked(phrases[i], float(s), owner[i]) for s, i in zip(sims.tolist(), idx.tolist())]

    def _merged(self, names: tuple[str, ...]) -> tuple[Tensor, list[str], list[str]]:
        """The banks' embeddings stacked (n, d), each row's bank and phrase; built once per set of banks."""
        if names not in self._stacks:
            if len(names) == 1:
                E = self.embeddings(names[0])
            else:
                E = torch.cat([self.embeddings(b) for b in names])
            owner = [b for b in names for _ in self.banks[b].phrases]
            self._stacks[names] = (E, owner, [p for b in names for p in self.banks[b].phrases])
        return self._stacks[names]

    def similarity(self, features: Tensor, texts: Sequence[str]) -> list[float]:
        """Cosine similarity of each text to one image."""
        if not texts:
            return []
        return (self.encoder.encode_texts(list(texts)) @ _one(features)).tolist()

    # -- the modes -----------------------------------------------------------------------------
    def image_features(self, images: Sequence[Any]) -> Tensor:
        """(n, d) unit image embeddings."""
        return self.encoder.encode_images(list(images))

    def fast(self, features: Tensor, caption: str | None = None, max_flavors: int = 32) -> Interrogation:
        """The caption and the top phrases of all positive banks, cut to fit the context."""
        tops = self.rank(features, k=max_flavors)
        prompt, terms = self._fit([caption] if caption else [], tops)
        return self._result(features, prompt, "fast", caption, terms)

    def classic(self, features: Tensor, caption: str | None = None, max_flavors: int = 3) -> Interrogation:
        """Caption, medium, artist, site, movement (each bank's best) and the top ``max_flavors`` flavours."""
        picks: list[Ranked] = []
        for name in [*CLASSIC_ORDER, *(b for b in self.positive_banks() if b not in POSITIVE_BANKS)]:
            if name in self.banks:
                picks += self.rank(features, [name], k=1)
        if "flavors" in self.banks:
            picks += self.rank(features, ["flavors"], k=max_flavors)
        head = [caption] if caption else []
        if caption and picks and picks[0].bank == "mediums" and caption.startswith(picks[0].phrase):
            picks = picks[1:]  # the caption already says the medium
        prompt, terms = self._fit(head, picks)
        return self._result(features, prompt, "classic", caption, terms)

    def best(
        self, features: Tensor, caption: str | None = None, min_flavors: int = 8, max_flavors: int = 32
    ) -> Interrogation:
        """The greedy chain over the top candidates, then the best of caption, classic, fast and chain."""
        candidates = self.rank(features, k=self.flavor_candidates)
        chained = self._chain(features, candidates, caption, min_flavors, max_flavors, reverse=False)
        options = [self.fast(features, caption, max_flavors), self.classic(features, caption), chained]
        if caption:
            options.insert(0, self._result(features, caption, "caption", caption, []))
        winner = max(options, key=lambda r: r.similarity)  # the first of equals
        return Interrogation(
            winner.prompt,
            winner.similarity,
            "best",
            caption,
            options[0].caption_similarity,
            winner.terms,
            {o.mode: o.similarity for o in options},
        )

    def negative(self, features: Tensor, max_flavors: int = 32) -> Interrogation:
        """A chain towards the least similar flavours and defects: a negative prompt."""
        pool: list[Ranked] = []
        if "flavors" in self.banks:
            pool += self.rank(features, ["flavors"], k=self.flavor_candidates, reverse=True)
        if "negative" in self.banks:
            pool += self.rank(features, ["negative"], k=len(self.banks["negative"]), reverse=True)
        if not pool:
            raise ValueError("negative mode needs a 'flavors' or a 'negative' bank")
        result = self._chain(features, pool, None, 1, max_flavors, reverse=True)
        result.mode = "negative"
        return result

    def interrogate(
        self,
        images: Sequence[Any],
        mode: str = "best",
        captions: Sequence[str | None] | None = None,
        **options: Any,
    ) -> list[Interrogation]:
        """Interrogate a batch of PIL images (embedded together) in one of `MODES`.

        ``captions``: one per image (None entries: no caption); default: the
        captioner's, or none. ``options`` go to the mode (``max_flavors``...).
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        images = list(images)
        if captions is None:
            captions = (
                self.captioner.caption(images)
                if self.captioner and mode != "negative"
                else [None] * len(images)
            )
        if len(captions) != len(images):
            raise ValueError(f"{len(captions)} captions for {len(images)} images")
        F = self.image_features(images)  # (n, d)
        run = getattr(self, mode)
        if mode == "negative":
            return [run(f, **options) for f in F]
        return [run(f, c or None, **options) for f, c in zip(F, captions)]

    # -- helpers -------------------------------------------------------------------------------
    def _fits(self, texts: Sequence[str]) -> list[bool]:
        limit = self.encoder.context_length
        return [n <= limit for n in self.encoder.count_tokens(list(texts))]

    def _fit(self, head: list[str], terms: list[Ranked]) -> tuple[str, list[Ranked]]:
        """Join head and terms with ", ", keeping the terms in order while the prompt fits the context."""
        parts, kept = list(head), []
        for term in terms:
            trial = ", ".join([*parts, term.phrase])
            if not self._fits([trial])[0]:
                break
            parts.append(term.phrase)
            kept.append(term)
        return ", ".join(parts), kept

    def _result(
        self, features: Tensor, prompt: str, mode: str, caption: str | None, terms: list[Ranked]
    ) -> Interrogation:
        texts = [prompt] + ([caption] if caption else [])
        sims = self.similarity(features, texts) if prompt else [0.0, *self.similarity(features, texts[1:])]
        return Interrogation(prompt, sims[0], mode, caption, sims[1] if caption else None, terms)

    def _chain(
        self,
        features: Tensor,
        pool: list[Ranked],
        start: str | None,
        min_count: int,
        max_count: int,
        reverse: bool,
    ) -> Interrogation:
        """Greedy: append the phrase whose addition scores best; stop when none helps (after min_count)."""
        sign = -1.0 if reverse else 1.0
        f = _one(features)
        remaining = list({r.phrase: r for r in pool}.values())
        terms: list[Ranked] = []
        if start:
            current = start
            score = sign * self.similarity(f, [start])[0]
        else:
            first = max(remaining, key=lambda r: sign * r.similarity)
            remaining.remove(first)
            current, score, terms = first.phrase, sign * first.similarity, [first]
        best_prompt, best_score, best_terms = current, score, list(terms)
        for step in range(max_count):
            trials = [f"{current}, {r.phrase}" for r in remaining]
            fits = self._fits(trials)
            options = [(t, r) for t, r, ok in zip(trials, remaining, fits) if ok]
            if not options:
                break
            scores = sign * (self.encoder.encode_texts([t for t, _ in options]) @ f)  # (m,), in batches
            j = int(torch.argmax(scores))
            trial, term = options[j]
            trial_score = float(scores[j])
            if trial_score > best_score:
                best_prompt, best_score, best_terms = trial, trial_score, [*terms, term]
            if not (trial_score > score or step < min_count):
                break
            current, score = trial, trial_score
            terms.append(term)
            remaining.remove(term)
        mode = "negative" if reverse else "chain"
        caption_similarity = self.similarity(f, [start])[0] if start else None
        return Interrogation(best_prompt, sign * best_score, mode, start, caption_similarity, best_terms)


def _one(features: Tensor) -> Tensor:
    f = torch.as_tensor(features, dtype=torch.float32)
    if f.ndim == 2 and f.shape[0] == 1:
        f = f[0]
    if f.ndim != 1:
        raise ValueError(f"expected the embedding of one image, shape (d,), got {tuple(f.shape)}")
    return f
