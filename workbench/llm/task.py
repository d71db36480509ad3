"""An enumerable text task with an exact, intransitive preference oracle: rock-paper-scissors sequences.

A response is ``length`` words over ``words`` (default ``rock paper scissors``, so ``3^length`` responses,
27 at length 3), e.g. ``"rock scissors rock"``. Every response can be enumerated, so a language model's
whole distribution over responses is computable exactly (one batched forward) and the preference game
between neural policies is a tabular :class:`~workbench.games.PreferenceGame` that ``solve`` handles.

The oracle, for prompt ``x`` (a "match" against one opponent style):

    P_x(y ≻ y') = sigmoid(scale * [(1 - a) (q_x(y) - q_x(y')) + a * rps(y, y') / length])

* ``rps(y, y') = sum_i beats(y_i, y'_i) - beats(y'_i, y_i)`` counts round wins minus losses (paper beats
  rock beats scissors beats paper): antisymmetric and cyclic (``paper ...`` ≻ ``rock ...`` ≻
  ``scissors ...`` ≻ ``paper ...``), so no reward represents it;
* ``q_x(y) = sum_i w_x[i, y_i]`` is a transitive "style" score per prompt (random, seeded weights);
* ``a = intransitivity`` in [0, 1] moves from a Bradley–Terry game (``a = 0``) to pure cycles (``a = 1``).

Both parts are antisymmetric, so ``P + P^T = 1`` exactly. The oracle is deterministic: a table lookup.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch

from workbench.device import make_generator
from workbench.games.game import PreferenceGame

RPS_WORDS = ("rock", "paper", "scissors")


@dataclass(frozen=True)
class RPSTask:
    """The enumerable task: prompts, response words and length, and the preference oracle's knobs."""

    n_prompts: int = 4  # prompts x (opponent styles), each its own game
    length: int = 3  # words per response: 3^length responses
    words: tuple[str, ...] = RPS_WORDS  # the three moves; words[(i + 1) % 3] beats words[i]
    intransitivity: float = 0.6  # a: 0 = Bradley-Terry (transitive), 1 = pure round-by-round cycles
    scale: float = 4.0  # sharpness of the oracle's sigmoid
    seed: int = 0  # seeds the per-prompt style weights w_x
    prompt_template: str = "play {length} rounds : style {x}"  # tiny-LM prompt (SmolLM2 uses chat_prompts())
    responses: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self):
        if self.n_prompts < 1 or self.length < 1:
            raise ValueError(f"RPSTask: n_prompts and length must be >= 1; got {self.n_prompts}, {self.length}")
        if len(self.words) != 3:
            raise ValueError(f"RPSTask: words must name the 3 moves (rock, paper, scissors order); got {self.words}")
        if not 0 <= self.intransitivity <= 1:
            raise ValueError(f"RPSTask: intransitivity must lie in [0, 1]; got {self.intransitivity}")
        combos = itertools.product(range(3), repeat=self.length)
        object.__setattr__(self, "responses", tuple(" ".join(self.words[i] for i in c) for c in combos))

    # ------------------------------------------------------------------ enumeration
    @property
    def n(self) -> int:
        """Number of responses, ``3^length``."""
        return len(self.responses)

    @property
    def prompts(self) -> list[str]:
        return [self.prompt_template.format(length=self.length, x=x) for x in range(self.n_prompts)]

    def moves(self) -> torch.Tensor:
        """Move indices of every response, ``(n, length)`` (0 = words[0], ...), in enumeration order."""
        return torch.tensor(list(itertools.product(range(3), repeat=self.length)), dtype=torch.long)

    def index(self, responses) -> torch.Tensor:
        """Enumeration index of each response text, ``(B,)``; a text outside the task raises naming it."""
        lookup = {r: i for i, r in enumerate(self.responses)}
        out = []
        for r in responses:
            key = " ".join(str(r).split())
            if key not in lookup:
                raise KeyError(f"RPSTask: response {r!r} is not one of the {self.n} task responses")
            out.append(lookup[key])
        return torch.tensor(out, dtype=torch.long)

    def prompt_index(self, prompts) -> torch.Tensor:
        """Index of each prompt, ``(B,)``; an unknown prompt raises naming it."""
        lookup = {p: i for i, p in enumerate(self.prompts)}
        lookup.update({p: i for i, p in enumerate(self.chat_prompts())})
        try:
            return torch.tensor([lookup[p] for p in prompts], dtype=torch.long)
        except KeyError as exc:
            raise KeyError(f"RPSTask: unknown prompt {exc.args[0]!r}; known: {self.prompts}") from None

    def chat_prompts(self) -> list[str]:
        """The same prompts in words, for an instruction-tuned model (SmolLM2)."""
        return [
            f"We play {self.length} rounds of rock paper scissors against opponent number {x}. "
            f"Answer with exactly {self.length} words, each rock, paper or scissors."
            for x in range(self.n_prompts)
        ]

    # ------------------------------------------------------------------ the oracle
    def style_weights(self) -> torch.Tensor:
        """Transitive style weights ``w_x``, ``(X, length, 3)``, centred per position (seeded)."""
        w = torch.randn((self.n_prompts, self.length, 3), generator=make_generator(self.seed), dtype=torch.float64)
        return w - w.mean(-1, keepdim=True)

    def rps_matrix(self) -> torch.Tensor:
        """``rps(y, y')``: round wins minus losses, ``(n, n)``, antisymmetric integers in [-length, length]."""
        m = self.moves()  # (n, L)
        d = (m[:, None, :] - m[None, :, :]) % 3  # (n, n, L): 1 when y_i beats y'_i (paper beats rock, ...)
        return ((d == 1).sum(-1) - (d == 2).sum(-1)).to(torch.float64)

    def quality(self) -> torch.Tensor:
        """``q_x(y)``, ``(X, n)``."""
        m = self.moves()  # (n, L)
        w = self.style_weights()  # (X, L, 3)
        return w[:, torch.arange(self.length)[None, :], m].sum(-1)  # (X, n)

    def preference_matrix(self) -> torch.Tensor:
        """``P_x(y ≻ y')`` for every prompt, ``(X, n, n)`` float64, ``P + P^T = 1``."""
        q = self.quality()  # (X, n)
        a = self.intransitivity
        logit = (1 - a) * (q[:, :, None] - q[:, None, :]) + a * self.rps_matrix()[None] / self.length
        return torch.sigmoid(self.scale * logit)  # (X, n, n)

    def game(self, mu: torch.Tensor, beta: float) -> PreferenceGame:
        """The regularized game of every prompt: oracle ``P`` ``(X, n, n)``, ``mu`` ``(X, n)`` (e.g. the
        reference model's exact sequence distribution), one ``beta`` for all prompts."""
        mu = torch.as_tensor(mu, dtype=torch.float64).cpu()
        if mu.shape != (self.n_prompts, self.n):
            raise ValueError(f"RPSTask.game: mu must have shape {(self.n_prompts, self.n)}; got {tuple(mu.shape)}")
        beta_t = torch.full((self.n_prompts,), float(beta), dtype=torch.float64)
        return PreferenceGame(self.preference_matrix(), mu / mu.sum(-1, keepdim=True), beta_t)
