"""Batched sampling with a KV cache: one decoding loop for the policy, a weight snapshot, the reference, and
Nash-MD's token-level geometric mixture.

Munos et al. (2023, arXiv 2312.00886, Section 7) sample the Nash-MD opponent from the geometric mixture of
the policy and the reference, formed token by token. **Convention (stated once, tested against the closed
form):** the mixture coefficient ``m`` weights the *reference*,

    log pi^m(y_k | x, y_<k) = (1 - m) log pi(y_k | x, y_<k) + m log mu(y_k | x, y_<k) - log Z_k,

so ``m = 0`` is the policy itself (self-play) and ``m = 1`` the reference; tabular Nash-MD's
``pi^(1 - eta beta) mu^(eta beta)`` is ``m = eta * beta``. The sequence-level probability is the product
of the per-token normalized mixtures (it is *not* the normalized geometric mixture of the two sequence
distributions: each prefix has its own ``Z_k``). :func:`workbench.llm.exact.enumerate_logprobs` computes
it exactly on an enumerable task.

**One decoding loop** (:func:`_decode`, nanoGPT's ``generate``): the rows come in blocks of ``B`` (one per
prompt), each block a :class:`Law` ``(1 - m) log pi_w + m log mu`` (``w`` the current weights or a snapshot).
Every model view the laws need (current weights, a snapshot, the reference) runs one forward per token over
the rows that need it, with its own KV cache (:class:`_Forward`); each prompt is encoded once per view and
its cache gathered to the rows that continue it. :func:`sample` is one block, :func:`sample_pair` two
(``y ~ pi`` and the opponent ``y'``) with ``log mu(y)`` read off the reference forward. Sampling draws
from ``generator`` only (explicit randomness), one uniform per row and token, in row order.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from workbench.llm.policy import Policy

FUSE_MIN_PARAMS = 20_000_000  # sample_pair's default with peft's own mixed batch (tuner layers that
# adapters.rows_on cannot scale per row): a mixed-adapter batch from this model size up
CONCURRENT_MIN_PARAMS = 20_000_000  # sample_pair's default for full fine-tuning on a CPU with >= 2 threads: the
# policy's and the reference's forwards run side by side on two threads from this model size up (below it a
# forward is Python overhead, which the GIL serializes)


@dataclass
class Rollout:
    """A batch of prompts and sampled responses (prompts left-padded, responses right-padded)."""

    prompts: list[str]
    prompt_ids: torch.Tensor  # (B, Tp)
    prompt_mask: torch.Tensor  # (B, Tp)
    response_ids: torch.Tensor  # (B, Tr)
    response_mask: torch.Tensor  # (B, Tr), 1 up to and including EOS
    responses: list[str]  # decoded response texts

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def n_tokens(self) -> int:
        """Generated tokens (the throughput unit)."""
        return int(self.response_mask.sum())


def mixture_logprobs(policy_logp: torch.Tensor, ref_logp: torch.Tensor, m: float) -> torch.Tensor:
    """Per-token log-probabilities of the geometric mixture, ``(..., V)``: ``(1-m) log pi + m log mu``
    renormalized over the last dim (``m`` weights the reference)."""
    mixed = torch.lerp(policy_logp, ref_logp, float(m))  # (..., V)
    mixed = torch.where(torch.isnan(mixed), torch.full_like(mixed, float("-inf")), mixed)  # -inf + -inf stays -inf
    return torch.log_softmax(mixed, dim=-1)


def draw(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One index per row of ``probs`` ``(R, V)`` (rows need not sum to 1), by inverse CDF: one uniform per row
    against the float64 running sum. The same law as ``torch.multinomial(probs, 1)``, which on CPU draws an
    exponential variate for every entry (``R x V`` of them: ~50 ms per token at ``R = 8``, ``V = 49152``).
    A row that is not a distribution (a non-finite or negative entry, or all zeros) raises, naming the row:
    that is what diverged weights produce, and a search over it would return an arbitrary index."""
    cdf = probs.double().cumsum(-1)  # (R, V)
    total = cdf[:, -1]  # (R,)
    lo, hi = torch.aminmax(total)  # a NaN row makes lo NaN, which fails the comparison
    if not (float(lo) > 0 and float(hi) < float("inf") and float(probs.min()) >= 0):
        bad = ~((total > 0) & (total < float("inf"))) | (probs < 0).any(-1)  # (R,)
        r = int(bad.nonzero()[0])
        raise ValueError(f"draw: row {r} of the sampling probabilities is not a distribution (sum {float(total[r])!r},"
                         f" min {float(probs[r].min())!r}): the logits are non-finite (diverged weights?) or every "
                         "token is masked")
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device, dtype=torch.float64)  # (R, 1)
    idx = torch.searchsorted(cdf, u * total[:, None], right=True)  # (R, 1): first index whose cdf exceeds u
    return idx.squeeze(-1).clamp_max(probs.shape[-1] - 1)  # (R,); zero-probability entries are never drawn


def side_by_side_default(policy: Policy) -> bool:
    """``sample_pair``'s default for ``concurrent``: full fine-tuning (two models) on a CPU with at least two
    intra-op threads and at least ``CONCURRENT_MIN_PARAMS`` parameters (below that a forward is Python overhead,
    which the GIL serializes; on CUDA the kernels are asynchronous already)."""
    return (policy.finetune == "full" and policy.device.type == "cpu" and torch.get_num_threads() >= 2
            and sum(p.numel() for p in policy.model.parameters()) >= CONCURRENT_MIN_PARAMS)


@contextmanager
def _side_by_side(enabled: bool):
    """Yield ``run(f, g) -> (f(), g())``. With ``enabled``, ``g`` runs on a second thread while ``f`` runs on
    this one, the caller's ``n`` intra-op threads split between them (``n // 2`` here, ``n - n // 2`` there:
    one each on two cores); the caller's thread count is restored on exit.

    Why (measured, ``benchmarks/bench_llm.py``): a decoding forward at a few rows is small-matrix GEMM, and
    MKL's second intra-op thread speeds it up only ~1.3x on the 2-core CPU we measure on; two independent
    forwards (policy and frozen reference, full fine-tuning) on one thread each use both cores fully: one
    token of both SmolLM2-135M forwards at 8 rows took 350-410 ms in sequence at 2 threads and 225-245 ms
    side by side. ``g`` runs under ``no_grad`` (grad mode is per thread; sampling never needs gradients).
    The intra-op thread count is per OS thread for OpenMP and MKL, so the two settings do not interfere."""
    if not enabled:
        yield lambda f, g: (f(), g())
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // 2))  # this thread's share

    def side(g):
        with torch.no_grad():
            return g()

    pool = ThreadPoolExecutor(1, thread_name_prefix="workbench-side-forward",
                              initializer=torch.set_num_threads, initargs=(max(1, threads - threads // 2),))

    def run(f, g):
        fut = pool.submit(side, g)
        try:
            a = f()
        finally:
            b = fut.result()
        return a, b

    try:
        yield run
    finally:
        pool.shutdown(wait=True)
        torch.set_num_threads(threads)


@dataclass(frozen=True, eq=False)
class Law:
    """What one block of rows samples from, token by token: ``(1 - mixture) log pi_w + mixture log mu``,
    renormalized, with ``pi_w`` the policy under ``weights`` (``None``: the current weights)."""

    mixture: float = 0.0  # m, the reference's weight: 0 = pi_w, 1 = mu
    weights: dict[str, torch.Tensor] | None = None  # a snapshot of the trainable weights, or None

    @property
    def policy_view(self):
        """The key of ``pi_w``'s forward: ``None`` for the current weights, else the snapshot's ``id``."""
        return None if self.weights is None else id(self.weights)

    def views(self) -> list:
        """The forwards this law reads (keys: :attr:`policy_view` and/or ``MU``)."""
        return ([self.policy_view] if self.mixture < 1.0 else []) + ([MU] if self.mixture > 0.0 else [])

    def logprobs(self, lp: dict, s: int) -> torch.Tensor:
        """Block ``s``'s per-token log-probabilities ``(B, V)`` from the forwards' outputs ``lp[(view, s)]``."""
        if self.mixture == 0.0:
            return lp[(self.policy_view, s)]
        if self.mixture == 1.0:
            return lp[(MU, s)]
        return mixture_logprobs(lp[(self.policy_view, s)], lp[(MU, s)], self.mixture)  # (B, V)


MU = "reference"  # the key of the reference's forward


class _Forward:
    """One forward per token with its own KV cache over ``parts`` ``[(view, blocks)]``: each part the blocks of
    ``B`` rows read under one view (with LoRA and ``mixed``, the current weights and ``MU`` in one batch with
    per-row adapters). Returns ``{(view, block): (B, V)}``."""

    def __init__(self, policy: Policy, parts: list[tuple], B: int, weights: dict | None, mixed: bool = False):
        self.policy, self.parts, self.B, self.weights, self.cache = policy, parts, B, weights, None
        self.reference = not mixed and parts[0][0] == MU
        flags = [v != MU for v, blocks in parts]  # per part: adapters on (policy) or off (reference)
        self.on_parts = torch.tensor(flags, device=policy.device) if mixed else None  # (k,)
        self.on = None if not mixed else torch.tensor(
            [f for f, (_, blocks) in zip(flags, parts) for _ in range(len(blocks) * B)], device=policy.device)  # (R,)
        rows = [s * B + j for _, blocks in parts for s in blocks for j in range(B)]  # the loop's rows it reads
        lo = rows[0]
        self.rows = (slice(lo, lo + len(rows)) if rows == list(range(lo, lo + len(rows)))
                     else torch.tensor(rows, device=policy.device))

    def _split(self, logp: torch.Tensor) -> dict:
        logp, out, i = logp[:, -1], {}, 0  # (R, V)
        for v, blocks in self.parts:
            for s in blocks:
                out[(v, s)] = logp[i:i + self.B]  # (B, V)
                i += self.B
        return out

    def _forward(self, ids, mask, pos, on) -> torch.Tensor:
        logp, self.cache = self.policy.logprobs(ids, mask, pos, reference=self.reference, weights=self.weights,
                                                on=on, cache=self.cache, use_cache=True)
        return logp  # (R, 1, V)

    def __call__(self, ids, mask, pos) -> dict:
        r = self.rows
        return self._split(self._forward(ids[r], mask[r], pos[r], self.on))

    def prefill(self, prompt_ids, prompt_mask, pos0) -> dict:
        """The first forward over the ``B`` prompts once per part (not once per block: the blocks share their
        prompts), then the KV cache (and the log-probabilities) gathered to the rows that continue them."""
        k, B = len(self.parts), self.B
        rep = lambda t: t.repeat(k, 1)  # (k B, Tp)
        on = None if self.on_parts is None else self.on_parts.repeat_interleave(B)  # (k B,)
        sel = torch.cat([i * B + torch.arange(B).repeat(len(blocks)) for i, (_, blocks) in enumerate(self.parts)])
        if torch.equal(sel, torch.arange(k * B)):
            return self._split(self._forward(rep(prompt_ids), rep(prompt_mask), rep(pos0), on))
        sel = sel.to(prompt_ids.device)
        logp = self._forward(rep(prompt_ids), rep(prompt_mask), rep(pos0), on)  # (k B, 1, V)
        select = getattr(self.cache, "batch_select_indices", None)
        if select is None:  # a cache type without row selection: encode every row's prompt instead
            self.cache = None
            return self._split(self._forward(rep(prompt_ids)[sel], rep(prompt_mask)[sel], rep(pos0)[sel], self.on))
        select(sel)
        return self._split(logp[sel])


def _plan(policy: Policy, laws: list[Law], B: int, score_mu: bool, fuse: bool) -> tuple[list, list]:
    """The forwards that ``laws`` (one per block of ``B`` rows) and, with ``score_mu``, ``mu`` on block 0 need:
    each view over the blocks that read it, and with ``fuse`` the current weights and ``MU`` in one mixed
    forward. Returns ``(main, side)``: the forwards on the caller's thread and the reference's (full
    fine-tuning: another model, which may run on a second thread)."""
    views: dict = {}  # view -> blocks, in order of first use
    weights = {law.policy_view: law.weights for law in laws}
    for s, law in enumerate(laws):
        for v in law.views() + ([MU] if s == 0 and score_mu else []):
            if s not in views.setdefault(v, []):
                views[v].append(s)
    main, side = [], []
    if fuse and None in views and MU in views:
        main.append(_Forward(policy, [(None, views.pop(None)), (MU, views.pop(MU))], B, None, mixed=True))
    for v, blocks in views.items():
        f = _Forward(policy, [(v, blocks)], B, weights.get(v))
        (side if v == MU and policy.finetune == "full" else main).append(f)
    return main, side


def _decode(policy: Policy, prompts: list[str], max_new_tokens: int, laws: list[Law], *, score_mu: bool = False,
            temperature: float = 1.0, generator: torch.Generator | None = None, stop_at_eos: bool = True,
            fuse: bool = False, concurrent: bool = False) -> tuple[list[Rollout], torch.Tensor | None]:
    """The one decoding loop: block ``s`` of ``B`` rows (one per prompt) samples from ``laws[s]``; returns a
    :class:`Rollout` per block (each trimmed to its longest response) and, with ``score_mu``,
    ``log mu(y_k | x, y_<k)`` of block 0's tokens ``(B, Tr)`` (0 at padding)."""
    was_training = policy.model.training
    policy.model.eval()  # peft refuses mixed-adapter batches in training mode
    prompt_ids, prompt_mask = policy.encode_prompts(prompts)  # (B, Tp)
    B, S = prompt_ids.shape[0], len(laws)
    main, side = _plan(policy, laws, B, score_mu, fuse)
    pos0 = (prompt_mask.long().cumsum(-1) - 1).clamp_min(0)  # (B, Tp)
    mask, pos = prompt_mask.repeat(S, 1), pos0.repeat(S, 1)  # (S B, Tp)
    eos, pad = policy.tokenizer.eos_token_id, policy.tokenizer.pad_token_id
    out_ids, out_mask, mu_tok = [], [], []
    done = torch.zeros(S * B, dtype=torch.bool, device=prompt_ids.device)  # (S B,)
    with _side_by_side(concurrent and bool(side)) as pair:
        for k in range(max_new_tokens):
            run = (lambda f: f.prefill(prompt_ids, prompt_mask, pos0)) if k == 0 else (lambda f: f(ids, mask, pos))
            a, b = pair(lambda: [run(f) for f in main], lambda: [run(f) for f in side])
            lp = {key: out for outs in a + b for key, out in outs.items()}  # (view, block) -> (B, V)
            logp = torch.cat([law.logprobs(lp, s) for s, law in enumerate(laws)])  # (S B, V)
            nxt = draw(torch.softmax(logp / temperature, dim=-1), generator)  # (S B,)
            nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
            if score_mu:
                tok = torch.gather(lp[(MU, 0)], -1, nxt[:B, None]).squeeze(-1)  # (B,) log mu(y_k | x, y_<k)
                mu_tok.append(torch.where(done[:B], torch.zeros_like(tok), tok))
            out_ids.append(nxt)
            out_mask.append((~done).long())
            if stop_at_eos and eos is not None:
                done = done | (nxt == eos)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)  # (S B, Tp + k + 1)
            pos = pos[:, -1:] + 1  # (S B, 1)
            ids = nxt[:, None]  # (S B, 1)
            if bool(done.all()):
                break
    policy.model.train(was_training)
    ids_all, mask_all = torch.stack(out_ids, 1), torch.stack(out_mask, 1)  # (S B, Tr)
    rolls = []
    for s in range(S):
        i, m = ids_all[s * B:(s + 1) * B], mask_all[s * B:(s + 1) * B]  # (B, Tr)
        T = int(m.sum(1).max()) if m.numel() else 0
        rolls.append(Rollout(list(prompts), prompt_ids, prompt_mask, i[:, :T], m[:, :T], policy.decode(i[:, :T], m[:, :T])))
    mu_logp = torch.stack(mu_tok, 1)[:, :rolls[0].response_ids.shape[1]] if score_mu else None  # (B, Tr)
    return rolls, mu_logp


def _check(fn: str, mixture: float, temperature: float) -> None:
    if not 0.0 <= mixture <= 1.0:
        raise ValueError(f"{fn}: mixture must lie in [0, 1]; got {mixture}")
    if not temperature > 0:
        raise ValueError(f"{fn}: temperature must be > 0; got {temperature}")


def fuse_default(policy: Policy) -> bool:
    """The default of ``fuse`` (the current weights and ``mu`` in one mixed forward): plain LoRA layers (a per-row
    scaling) at any size, other tuner layers (peft's own mixed batch) from ``FUSE_MIN_PARAMS`` parameters up.
    Measured (``benchmarks/bench_llm.py --levers``): the per-row scaling wins on the tiny model (0.59 -> 0.37
    CPU s per step) and on SmolLM2; peft's own mixed batch costs more than it saves on a tiny model (25 %
    slower) and wins on SmolLM2-135M (25 % faster)."""
    return policy.finetune == "lora" and (policy.row_scalable
                                          or sum(p.numel() for p in policy.model.parameters()) >= FUSE_MIN_PARAMS)


@torch.no_grad()
def sample(
    policy: Policy,
    prompts: list[str],
    max_new_tokens: int,
    *,
    mixture: float = 0.0,
    reference: bool = False,
    weights: dict[str, torch.Tensor] | None = None,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    stop_at_eos: bool = True,
) -> Rollout:
    """Sample one response per prompt.

    Args:
        policy: the policy (its ``allowed`` constraint applies).
        prompts: ``B`` prompt texts (repeat a prompt to get several samples).
        max_new_tokens: response length cap (the exact length for a constrained task without EOS).
        mixture: ``m`` in [0, 1], the reference's weight in the token-level geometric mixture.
        reference: sample from ``mu`` itself (adapters off); same as ``mixture=1``.
        weights: a snapshot of the trainable weights to sample from instead of the current ones.
        temperature: divides the (mixed) log-probabilities; 1 samples the model's distribution.
        generator: the random generator on the policy's device.
    """
    _check("sample", mixture, temperature)
    law = Law(1.0 if reference else float(mixture), weights)
    rolls, _ = _decode(policy, prompts, max_new_tokens, [law], temperature=temperature, generator=generator,
                       stop_at_eos=stop_at_eos, fuse=fuse_default(policy), concurrent=side_by_side_default(policy))
    return rolls[0]


@torch.no_grad()
def sample_pair(
    policy: Policy,
    prompts: list[str],
    max_new_tokens: int,
    *,
    mixture: float = 0.0,
    weights: dict[str, torch.Tensor] | None = None,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    stop_at_eos: bool = True,
    fuse: bool | None = None,
    concurrent: bool | None = None,
) -> tuple[Rollout, Rollout, torch.Tensor]:
    """A policy-gradient step's two samples per prompt in one decoding loop: ``y ~ pi``, the opponent
    ``y' ~ (1 - m) pi_w + m mu`` (token by token; ``w`` = ``weights`` or the current weights), and ``log mu(y)``.

    Nash-MD-PG's opponent is the mixture (``mixture=m``), Nash-EMA-PG's the EMA weights (``weights=ema``),
    Nash-MP's its centre or half step. The same draws in law as ``sample`` called twice (each row is sampled
    independently), at a fraction of the cost: the ``2B`` rows share each view's forward, and the reference
    also reads the ``y`` rows, so the reference's per-token log-probabilities of ``y`` (what
    ``policy.response_logprobs(..., reference=True)`` computes with a second forward over prompt and response)
    come out of the loop for free. With LoRA and ``fuse`` (default :func:`fuse_default`) the current weights'
    rows and the reference's rows run as one mixed forward (reference rows with the adapters off, a per-row
    LoRA scaling: :func:`workbench.llm.adapters.rows_on`). With full fine-tuning and ``concurrent`` (default
    :func:`side_by_side_default`) the reference's forwards run side by side with the policy's on a second
    thread, the intra-op threads split between them (:func:`_side_by_side`); the numbers are the same up to
    float round-off, the draws the same.

    Returns:
        ``(ys, opp, ref_logp)``: the two rollouts (each trimmed to its longest response) and
        ``log mu(y_k | x, y_<k)`` of ``ys``, ``(B, Tr)``, 0 at padding.
    """
    _check("sample_pair", mixture, temperature)
    lora = policy.finetune == "lora"
    fuse = fuse_default(policy) if fuse is None else bool(fuse)
    if fuse and not lora:
        raise ValueError("sample_pair: fuse=True needs a LoRA policy (mixed-adapter batches); this one is full fine-tuning")
    concurrent = side_by_side_default(policy) if concurrent is None else bool(concurrent)
    if concurrent and lora:
        raise ValueError("sample_pair: concurrent=True needs full fine-tuning (two models); with LoRA the policy "
                         "and the reference are one model with the adapters switched on and off")
    (ys, opp), ref_logp = _decode(policy, prompts, max_new_tokens, [Law(), Law(float(mixture), weights)],
                                  score_mu=True, temperature=temperature, generator=generator,
                                  stop_at_eos=stop_at_eos, fuse=fuse, concurrent=concurrent)
    return ys, opp, ref_logp
