"""Lesson D5, the environment: arithmetic tasks, a calculator tool, Gymnasium-like semantics.

A task is ``a*b`` or ``a*b+c`` with two-digit factors and a four-digit ``c`` (products and
sums of three to five digits), too hard for a tiny model to do in its head. The model may call a calculator by writing ``<calc>37*48</calc>``; the
environment evaluates the expression exactly (its own parser, never ``eval``) and appends
``<result>1776</result>`` as observation tokens. The calculator does one operation per call,
so ``a*b+c`` takes two calls: credit has to flow across turns. The episode ends when the model
writes ``A:<number>`` and its end-of-turn token (terminated, reward 1 if the number is exactly
right), or when the turn limit is reached (truncated, reward 0).

One ``step`` is one model turn: the tokens the model sampled go in, the observation's tokens
come out. The environment decodes the action to read it, but it never re-encodes it: the
trajectory is the concatenation of the sampled ids and the observation ids.
"""

# --8<-- [start:imports]
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from transformers import PreTrainedTokenizerFast

from snippets import common
from snippets.d3_grpo_rloo_and_dpo import trl_tiny

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class EnvConfig:
    """Settings of the tasks and of the episode."""

    factor_digits: common.PosInt = 2  # digits of a and b in a*b
    addend_digits: common.PosInt = 4  # digits of c in a*b+c
    two_step_share: common.Prob = 0.5  # share of tasks a*b+c (two calls); the rest are a*b
    max_turns: common.PosInt = 4  # turns before the episode is truncated
    max_operations: common.PosInt = 1  # operations the calculator does per call


# --8<-- [end:config]


# --8<-- [start:calculator]
class CalcError(ValueError):
    """An expression the calculator refuses; its message is what the model reads."""


TOKEN = re.compile(r"\s*(?:(\d+)|(.))")


def lex(expression: str) -> list[str]:
    """``"37 * (4+1)"`` -> ``["37", "*", "(", "4", "+", "1", ")"]``; anything else is an error."""
    tokens = []
    for number, symbol in TOKEN.findall(expression.strip()):
        if number:
            tokens.append(number)
        elif symbol in "+-*()":
            tokens.append(symbol)
        else:
            raise CalcError(f"bad symbol {symbol!r}")
    return tokens


def calculate(expression: str, max_operations: int | None = None) -> int:
    """Evaluate integer ``+``, ``-``, ``*`` and parentheses exactly, by recursive descent.

    Grammar: ``sum := product (("+" | "-") product)*``, ``product := atom ("*" atom)*``,
    ``atom := digits | "(" sum ")"``. Python integers do not overflow, so the result is exact.

    Raises:
        CalcError: on an empty or malformed expression, or more operations than allowed.
    """
    tokens = lex(expression)
    operations = sum(t in "+-*" for t in tokens)
    if max_operations is not None and operations > max_operations:
        raise CalcError(f"at most {max_operations} operation per call")
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise CalcError("unexpected end")
        position += 1
        return tokens[position - 1]

    def atom() -> int:
        token = take()
        if token.isdigit():
            return int(token)
        if token == "(":
            value = total()
            if take() != ")":
                raise CalcError("missing )")
            return value
        raise CalcError(f"unexpected {token!r}")

    def product() -> int:
        value = atom()
        while peek() == "*":
            take()
            value *= atom()
        return value

    def total() -> int:
        value = product()
        while peek() in ("+", "-"):
            value = value + product() if take() == "+" else value - product()
        return value

    result = total()
    if position != len(tokens):
        raise CalcError(f"unexpected {tokens[position]!r}")
    return result


# --8<-- [end:calculator]


# --8<-- [start:tasks]
@dataclass(frozen=True)
class Task:
    """``a*b`` (``c`` is None) or ``a*b+c``."""

    a: int
    b: int
    c: int | None = None

    @property
    def text(self) -> str:
        """The question the model reads, e.g. ``Q:374*48+1250`` and a newline.

        No space before a number: byte-level BPE would give `` 374`` other ids than ``374``,
        and the model would have to learn two spellings of every number to copy it.
        """
        tail = "" if self.c is None else f"+{self.c}"
        return f"Q:{self.a}*{self.b}{tail}\n"

    @property
    def answer(self) -> int:
        """The exact answer."""
        return self.a * self.b + (self.c or 0)

    @property
    def calls(self) -> list[str]:
        """The expressions of a correct solution, one operation per call."""
        product = f"{self.a}*{self.b}"
        return [product] if self.c is None else [product, f"{self.a * self.b}+{self.c}"]


def sample_task(rng: np.random.Generator, cfg: EnvConfig) -> Task:
    """A random task: ``a*b`` or, with probability ``two_step_share``, ``a*b+c``."""
    low, high = 10 ** (cfg.factor_digits - 1), 10**cfg.factor_digits
    a, b = (int(x) for x in rng.integers(low, high, size=2))
    if rng.random() < cfg.two_step_share:
        return Task(a, b, int(rng.integers(10 ** (cfg.addend_digits - 1), 10**cfg.addend_digits)))
    return Task(a, b)


# --8<-- [end:tasks]


# --8<-- [start:format]
EOT = trl_tiny.IM_END  # the end of the model's final turn (the tokenizer's EOS)
CALL = re.compile(r"<calc>(.*?)</calc>", re.S)
ANSWER = re.compile(r"^A:(-?\d+)$")
Kind = Literal["call", "answer", "malformed"]


def call_text(expression: str) -> str:
    """What the model writes to call the tool."""
    return f"<calc>{expression}</calc>"


def result_text(value: int | str) -> str:
    """What the environment appends after a call: the observation."""
    return f"<result>{value}</result>\n"


def answer_text(value: int) -> str:
    """What the model writes to end the episode (its end-of-turn token follows)."""
    return f"A:{value}"


def classify(action: str) -> tuple[Kind, str]:
    """Read one turn: a tool call (and its expression), a final answer, or neither."""
    found = CALL.search(action)
    if found and action.endswith("</calc>") and action.startswith("<calc>"):
        return "call", found.group(1)
    final = action.removesuffix(EOT)
    if action.endswith(EOT) and ANSWER.match(final):
        return "answer", ANSWER.match(final).group(1)
    return "malformed", action


# --8<-- [end:format]


# --8<-- [start:env]
@dataclass
class CalcEnv:
    """The calculator environment, with Gymnasium's ``reset``/``step`` over token ids.

    ``reset`` returns the task's token ids; ``step(action_ids)`` returns
    ``(observation_ids, reward, terminated, truncated, info)``. A well-formed call is answered
    with its result, a malformed turn with ``<result>error: ...</result>``; both use a turn.
    """

    tokenizer: PreTrainedTokenizerFast
    cfg: EnvConfig = field(default_factory=EnvConfig)
    task: Task | None = None
    turns: int = 0
    calls: int = 0
    valid_calls: int = 0
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def encode(self, text: str) -> list[int]:
        """Token ids of environment text (the task and the observations), no special tokens."""
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def reset(self, seed: int | None = None, task: Task | None = None) -> tuple[list[int], dict]:
        """Start an episode on a fresh task (or the one given); returns ``(ids, info)``."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.task = task or sample_task(self.rng, self.cfg)
        self.turns = self.calls = self.valid_calls = 0
        return self.encode(self.task.text), {"task": self.task, "text": self.task.text}

    def step(self, action_ids: list[int]) -> tuple[list[int], float, bool, bool, dict[str, Any]]:
        """One model turn: read it, run the tool or check the answer."""
        if self.task is None:
            raise RuntimeError("call reset before step")
        action = self.tokenizer.decode(action_ids)  # read, never re-encoded
        kind, content = classify(action)
        self.turns += 1
        info: dict[str, Any] = {"kind": kind, "action": action, "valid": False}
        if kind == "answer":
            reward = float(int(content) == self.task.answer)
            return [], reward, True, False, info | {"correct": bool(reward)}
        if kind == "call":
            self.calls += 1
            try:
                observation = result_text(calculate(content, self.cfg.max_operations))
                self.valid_calls += 1
                info["valid"] = True
            except CalcError as error:
                observation = result_text(f"error: {error}")
        else:
            observation = result_text("error: no call and no answer")
        truncated = self.turns >= self.cfg.max_turns
        return self.encode(observation), 0.0, False, truncated, info | {"correct": False}


# --8<-- [end:env]


# --8<-- [start:corpus]
def solution_turns(task: Task) -> list[tuple[str, str]]:
    """A correct episode as (action text, observation text) pairs; the last has no observation."""
    turns = [(call_text(e), result_text(calculate(e))) for e in task.calls]
    return [*turns, (answer_text(task.answer) + EOT, "")]


def tokenizer_corpus(rng: np.random.Generator, cfg: EnvConfig, n: int) -> list[str]:
    """Whole correct transcripts, the text the BPE tokenizer is trained on."""
    texts = []
    for _ in range(n):
        task = sample_task(rng, cfg)
        texts.append(task.text + "".join(a + o for a, o in solution_turns(task)))
    return texts


def build_tokenizer(seed: int, cfg: EnvConfig, n: int = 2000, vocab_size: int = 400):
    """D3's byte-level BPE tokenizer, trained here on ``n`` transcripts of this environment."""
    return trl_tiny.train_tokenizer(
        tokenizer_corpus(np.random.default_rng(seed), cfg, n), vocab_size
    )


# --8<-- [end:corpus]
