"""Lesson D2, the review world: a synthetic corpus, its tokenizer and the hidden gold rater.

The "language" is short movie reviews generated from seven sentence templates. The gold
rater plays the human: it likes positive words and dislikes word salad, repetition and
reviews that never end. PPO never sees it; only the reward model's training labels and the
evaluation do.
"""

# --8<-- [start:imports]
from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

# --8<-- [end:imports]


# --8<-- [start:corpus]
NOUNS = ("movie", "film", "plot", "acting", "ending", "cast", "music", "story", "script", "pacing")
ADVERBS = ("very", "really", "quite")
# word -> how much the hidden rater likes it. A table, one row per score, kept aligned by
# hand: the formatter would put each word on a line of its own.
ADJECTIVES = {
    "brilliant": 2, "wonderful": 2, "great": 2,
    "good": 1, "fun": 1, "charming": 1, "clever": 1,
    "fine": 0, "long": 0, "simple": 0,
    "dull": -1, "slow": -1, "bad": -1, "boring": -1,
    "awful": -2, "terrible": -2, "dreadful": -2,
}  # fmt: skip
VERBS = {"loved": 2, "enjoyed": 1, "liked": 1, "watched": 0, "disliked": -1, "hated": -2}
SENTIMENT = {**ADJECTIVES, **VERBS}
# Sentence templates: N noun, A adjective, D adverb, V verb; anything else is literal.
TEMPLATES = (
    ("the", "N", "was", "A", "."),
    ("the", "N", "was", "D", "A", "."),
    ("the", "N", "was", "A", "and", "the", "N", "was", "A", "."),
    ("the", "N", "was", "A", "but", "the", "N", "was", "A", "."),
    ("i", "V", "the", "N", "."),
    ("i", "V", "this", "N", "."),
    ("overall", "it", "was", "A", "."),
)
SLOTS = {"N": NOUNS, "D": ADVERBS, "A": tuple(ADJECTIVES), "V": tuple(VERBS)}
MAX_REVIEW_WORDS = 15


def _sentiment_word(pool: dict[str, int], mood: float, rng: np.random.Generator) -> str:
    """Pick a word whose sign follows the review's mood (in [-1, 1]) most of the time."""
    if rng.random() < 0.15:
        sign = 0
    else:
        sign = 1 if rng.random() < (1 + mood) / 2 else -1
    options = [w for w, v in pool.items() if np.sign(v) == sign]
    return options[rng.integers(len(options))]


def sample_review(rng: np.random.Generator) -> list[str]:
    """One review of one or two sentences, as a list of words ending with ".".

    A mood drawn per review makes most of its sentiment words agree, like real reviews.
    """
    mood = rng.uniform(-1.0, 1.0)
    words: list[str] = []
    n_sentences = 1 + int(rng.random() < 0.5)
    for _ in range(n_sentences):
        template = TEMPLATES[rng.integers(len(TEMPLATES))]
        if words and len(words) + len(template) > MAX_REVIEW_WORDS:
            break
        for slot in template:
            if slot in ("A", "V"):
                words.append(_sentiment_word(ADJECTIVES if slot == "A" else VERBS, mood, rng))
            elif slot in SLOTS:
                words.append(SLOTS[slot][rng.integers(len(SLOTS[slot]))])
            else:
                words.append(slot)
    return words


def sample_prompts(rng: np.random.Generator, n: int) -> list[str]:
    """Prompts are the first 1-3 words of fresh reviews ("the acting", "i loved", ...)."""
    return [" ".join(sample_review(rng)[: rng.integers(1, 4)]) for _ in range(n)]


# --8<-- [end:corpus]


# --8<-- [start:tokenizer]
PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the corpus vocabulary, built in code.

    The pad token is distinct from EOS: if they were the same, masking padding would
    also hide the EOS the policy must learn to emit. Padding goes on the left, so in a
    batch of prompts every prompt ends at the same column and generation continues
    from there.
    """
    words = sorted({w for t in TEMPLATES for w in t if w not in SLOTS} | set(NOUNS))
    words += sorted(set(ADVERBS) | set(ADJECTIVES) | set(VERBS))
    vocab = {token: i for i, token in enumerate([PAD, EOS, UNK, *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # join words with spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="left",
    )


# --8<-- [end:tokenizer]


# --8<-- [start:grammar]
VALID_BIGRAMS: frozenset[tuple[str, str]] = frozenset(
    (a, b)
    for template in TEMPLATES
    for x, y in zip(("<s>", *template), (*template, "</s>"), strict=True)
    for a in SLOTS.get(x, (x,))
    for b in SLOTS.get(y, (y,))
) | frozenset((".", t[0]) for t in TEMPLATES)  # a second sentence may follow a first


def is_grammatical(words: list[str], finished: bool) -> bool:
    """True if every word pair, including start and end, is one the grammar produces."""
    ends = (*words, "</s>") if finished else (*words, "<unfinished>")
    return all(p in VALID_BIGRAMS for p in zip(("<s>", *words), ends, strict=True))


# --8<-- [end:grammar]


# --8<-- [start:gold]
def gold_score(words: list[str], finished: bool) -> float:
    """The hidden rater: what a person would think of a review. PPO never sees it.

    It likes positive words (each distinct word counts once), and punishes what a
    reader hates: word salad (each word pair the grammar never produces: -2), repeated
    content words (-1 each) and reviews that never end (-2).
    """
    sentiment = sum(SENTIMENT.get(w, 0) for w in set(words))
    pairs = zip(("<s>", *words), (*words, "</s>") if finished else words, strict=False)
    broken = sum((a, b) not in VALID_BIGRAMS for a, b in pairs)
    content = [w for w in words if w in SENTIMENT or w in NOUNS]
    repeats = len(content) - len(set(content))
    return float(sentiment - 2 * broken - repeats - 2 * (not finished))


# --8<-- [end:gold]
