"""Batched sampling with a KV cache, from the policy or from Nash-MD's token-level geometric mixture.

Munos et al. (2023, arXiv 2312.00886, Section 7) sample the Nash-MD opponent from the geometric mixture of
the policy and the reference, formed token by token. **Convention (stated once, tested against the closed
form):** the mixture coefficient ``m`` weights the *reference*,

    log pi^m(y_k | x, y_<k) = (1 - m) log pi(y_k | x, y_<k) + m log mu(y_k | x, y_<k) - log Z_k,

so ``m = 0`` is the policy itself (self-play) and ``m = 1`` the reference; tabular Nash-MD's
``pi^(1 - eta beta) mu^(eta beta)`` is ``m = eta * beta``. The sequence-level probability is the product
of the per-token normalized mixtures (it is *not* the normalized geometric mixture of the two sequence
distributions: each prefix has its own ``Z_k``). :func:`workbench.llm.exact.enumerate_logprobs` computes
it exactly on an enumerable task.

The loop keeps one KV cache per model (the policy with adapters on, the reference with adapters off),
feeds one token per step, and stops when every row has produced EOS (free text) or after
``max_new_tokens``. Sampling draws from ``generator`` only (explicit randomness).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch

from workbench.llm.policy import Policy

try:  # transformers >= 5.2x names the KV cache ``cache``; earlier releases ``past_key_values``
    from transformers.modeling_outputs import CausalLMOutputWithPast as _Out

    CACHE_ARG = "cache" if "cache" in _Out.__dataclass_fields__ else "past_key_values"
except ImportError:  # pragma: no cover
    CACHE_ARG = "past_key_values"


FUSE_MIN_PARAMS = 20_000_000  # sample_pair's default with peft's own mixed batch (tuner layers that
# Policy.adapter_rows cannot scale per row): a mixed-adapter batch from this model size up
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
    exponential variate for every entry (``R x V`` of them: ~50 ms per token at ``R = 8``, ``V = 49152``)."""
    cdf = probs.double().cumsum(-1)  # (R, V)
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device, dtype=torch.float64)  # (R, 1)
    idx = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)  # (R, 1): first index whose cdf exceeds u
    return idx.squeeze(-1).clamp_max(probs.shape[-1] - 1)  # (R,); zero-probability entries are never drawn


class _Stream:
    """One model's incremental forward with its own KV cache. ``adapter_names`` (LoRA only) runs a peft
    mixed-adapter batch: each row with its named adapter, ``"__base__"`` rows with the adapters off."""

    def __init__(self, policy: Policy, reference: bool, weights=None, adapter_names: list[str] | None = None):
        self.policy, self.reference, self.weights, self.cache = policy, reference, weights, None
        self.extra = {} if adapter_names is None else {"adapter_names": adapter_names}

    def __call__(self, ids, mask, pos, adapter_names: list[str] | None = None) -> torch.Tensor:
        ctx = self.policy.reference() if self.reference else nullcontext(self.policy.model)
        names = self.extra.get("adapter_names") if adapter_names is None else adapter_names
        rows = nullcontext(False) if names is None else self.policy.adapter_rows(
            torch.tensor([n != "__base__" for n in names], device=ids.device))
        with ctx as model, self.policy.swapped(None if self.reference else self.weights), rows as scaled:
            extra = {} if names is None or scaled else {"adapter_names": names}  # peft's mixed batch: fallback
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1,
                        **{CACHE_ARG: self.cache}, **extra)
        self.cache = getattr(out, CACHE_ARG)
        return self.policy.token_logprobs(out.logits[:, -1])  # (B, V)

    def prefill(self, ids, mask, pos, rows: torch.Tensor, adapter_names: list[str] | None = None) -> torch.Tensor:
        """The first forward over the *distinct* prompts ``(P, Tp)``, then the KV cache (and the returned
        log-probabilities) gathered to the stream's rows: row ``r`` continues distinct prompt ``rows[r]``.
        Each prompt is encoded once however many rows continue it (``sample_pair``'s ``y`` and ``y'``
        share their prompts)."""
        logp = self(ids, mask, pos, adapter_names)  # (P, V)
        if len(rows) != ids.shape[0] or not torch.equal(rows, torch.arange(len(rows), device=rows.device)):
            select = getattr(self.cache, "batch_select_indices", None)
            if select is None:  # a cache type without row selection: encode every row's prompt instead
                self.cache = None
                return self(ids[rows], mask[rows], pos[rows])
            select(rows)
        return logp[rows]  # (R, V)


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
        reference: sample from ``mu`` itself (adapters off); same as ``mixture=1`` at half the cost.
        weights: a snapshot of the trainable weights to sample from instead of the current ones.
        temperature: divides the (mixed) log-probabilities; 1 samples the model's distribution.
        generator: the random generator on the policy's device.
    """
    if not 0.0 <= mixture <= 1.0:
        raise ValueError(f"sample: mixture must lie in [0, 1]; got {mixture}")
    if not temperature > 0:
        raise ValueError(f"sample: temperature must be > 0; got {temperature}")
    was_training = policy.model.training
    policy.model.eval()
    prompt_ids, prompt_mask = policy.encode_prompts(prompts)  # (B, Tp)
    B = prompt_ids.shape[0]
    eos = policy.tokenizer.eos_token_id
    pad = policy.tokenizer.pad_token_id
    use_pi = not reference and mixture < 1.0
    use_mu = reference or mixture > 0.0
    pi_stream = _Stream(policy, False, weights) if use_pi else None
    mu_stream = _Stream(policy, True) if use_mu else None
    ids, mask = prompt_ids, prompt_mask
    pos = (mask.long().cumsum(-1) - 1).clamp_min(0)  # (B, Tp)
    out_ids, out_mask = [], []
    done = torch.zeros(B, dtype=torch.bool, device=prompt_ids.device)
    for _ in range(max_new_tokens):
        logp_pi = pi_stream(ids, mask, pos) if use_pi else None  # (B, V)
        logp_mu = mu_stream(ids, mask, pos) if use_mu else None  # (B, V)
        if use_pi and use_mu:
            logp = mixture_logprobs(logp_pi, logp_mu, mixture)
        else:
            logp = logp_pi if use_pi else logp_mu
        probs = torch.softmax(logp / temperature, dim=-1)  # (B, V)
        nxt = draw(probs, generator)  # (B,)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
        out_ids.append(nxt)
        out_mask.append((~done).long())
        if stop_at_eos and eos is not None:
            done = done | (nxt == eos)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)  # (B, Tp + k + 1)
        pos = pos[:, -1:] + 1  # (B, 1)
        ids = nxt[:, None]
        if bool(done.all()):
            break
    policy.model.train(was_training)
    response_ids = torch.stack(out_ids, 1)  # (B, Tr)
    response_mask = torch.stack(out_mask, 1)  # (B, Tr)
    return Rollout(list(prompts), prompt_ids, prompt_mask, response_ids, response_mask,
                   policy.decode(response_ids, response_mask))


def _half(prompts, prompt_ids, prompt_mask, ids, mask, policy) -> Rollout:
    """A :class:`Rollout` from ``(B, T)`` sampled ids and mask, trimmed to its longest response."""
    T = int(mask.sum(1).max()) if mask.numel() else 0
    ids, mask = ids[:, :T], mask[:, :T]  # (B, Tr)
    return Rollout(list(prompts), prompt_ids, prompt_mask, ids, mask, policy.decode(ids, mask))


@torch.no_grad()
def sample_pair(
    policy: Policy,
    prompts: list[str],
    max_new_tokens: int,
    *,
    mixture: float,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    stop_at_eos: bool = True,
    fuse: bool | None = None,
    concurrent: bool | None = None,
) -> tuple[Rollout, Rollout, torch.Tensor]:
    """Nash-MD's two samples per prompt in one decoding loop: ``y ~ pi``, ``y' ~ pi^m``, and ``log mu(y)``.

    The same draws in law as ``sample(policy, prompts, n)`` and ``sample(policy, prompts, n, mixture=m)``
    (each row is sampled independently), at a fraction of the cost: the ``B`` rows of ``y`` and the ``B``
    rows of ``y'`` share each model's forward (``2B`` rows, one KV cache per model), and the reference,
    which the mixture needs anyway, also reads the ``y`` rows, so the reference's per-token log-probabilities
    of ``y`` (what ``policy.response_logprobs(..., reference=True)`` computes with a second forward over
    prompt and response) come out of the sampling loop for free. With LoRA and ``fuse`` (by default on for
    plain LoRA layers; with other tuner layers from ``FUSE_MIN_PARAMS`` parameters up) the policy rows and the
    reference rows run as one mixed-adapter batch (reference rows with the adapters off, via a per-row LoRA
    scaling, :meth:`Policy.adapter_rows`): one forward of ``4B`` rows per token instead of two of ``2B``.
    The prompts are encoded once per model (``B`` rows; their KV cache is then gathered to the rows that
    continue them), not once per row. With full fine-tuning and ``concurrent`` (by default on a CPU with
    at least two intra-op threads, from ``CONCURRENT_MIN_PARAMS`` parameters up) the policy's and the
    reference's forwards of each token run side by side on two threads, the intra-op threads split between
    them (:func:`_side_by_side`); the numbers are the same up to float round-off, the draws the same.

    Returns:
        ``(ys, opp, ref_logp)``: the two rollouts (each trimmed to its longest response) and
        ``log mu(y_k | x, y_<k)`` of ``ys``, ``(B, Tr)``, 0 at padding.
    """
    if not 0.0 <= mixture <= 1.0:
        raise ValueError(f"sample_pair: mixture must lie in [0, 1]; got {mixture}")
    if not temperature > 0:
        raise ValueError(f"sample_pair: temperature must be > 0; got {temperature}")
    lora = policy.finetune == "lora"
    if fuse is None:  # measured (benchmarks/bench_llm.py --levers): the per-row scaling wins on the tiny model
        # (0.59 -> 0.37 CPU s per step) and on SmolLM2; peft's own mixed batch (the fallback) costs more than it
        # saves on a tiny model (25 % slower) and wins on SmolLM2-135M (25 % faster)
        fuse = lora and (policy._row_scalable() is not None
                         or sum(p.numel() for p in policy.model.parameters()) >= FUSE_MIN_PARAMS)
    fuse = bool(fuse)
    if fuse and not lora:
        raise ValueError("sample_pair: fuse=True needs a LoRA policy (mixed-adapter batches); this one is full fine-tuning")
    if concurrent is None:
        concurrent = side_by_side_default(policy)
    concurrent = bool(concurrent)
    if concurrent and lora:
        raise ValueError("sample_pair: concurrent=True needs full fine-tuning (two models); with LoRA the policy "
                         "and the reference are one model with the adapters switched on and off")
    was_training = policy.model.training
    policy.model.eval()  # peft refuses mixed-adapter batches in training mode
    prompt_ids, prompt_mask = policy.encode_prompts(prompts)  # (B, Tp)
    B = prompt_ids.shape[0]
    rows = torch.arange(2 * B, device=prompt_ids.device)  # rows [0, B): y; rows [B, 2B): y'
    pi_rows = rows if mixture < 1.0 else rows[:B]  # the policy reads y (and y' unless m = 1)
    mu_rows = rows if mixture > 0.0 else rows[:B]  # the reference reads y (its log-probs) and y' (if m > 0)
    n_pi = len(pi_rows)
    # the first forward encodes each prompt once per model (B rows, not 2B): y and y' share their prompts
    pos0 = (prompt_mask.long().cumsum(-1) - 1).clamp_min(0)  # (B, Tp)
    if fuse:
        name = policy.model.active_adapter
        stream = _Stream(policy, False, adapter_names=[name] * n_pi + ["__base__"] * len(mu_rows))
        both = torch.cat([pi_rows, mu_rows])  # (R,)

        def prefill():
            two = lambda t: t.repeat(2, 1)  # (2B, Tp): the prompts for the policy, then for the reference
            out = stream.prefill(two(prompt_ids), two(prompt_mask), two(pos0),
                                 torch.cat([pi_rows % B, B + mu_rows % B]), [name] * B + ["__base__"] * B)
            return out[:n_pi], out[n_pi:]  # (n_pi, V), (n_mu, V)

        def forward(ids, mask, pos):
            out = stream(ids[both], mask[both], pos[both])  # (R, V)
            return out[:n_pi], out[n_pi:]
    else:
        pi_stream, mu_stream = _Stream(policy, False), _Stream(policy, True)

        def prefill():
            return pair(lambda: pi_stream.prefill(prompt_ids, prompt_mask, pos0, pi_rows % B),  # (n_pi, V)
                        lambda: mu_stream.prefill(prompt_ids, prompt_mask, pos0, mu_rows % B))  # (n_mu, V)

        n_mu = len(mu_rows)

        def forward(ids, mask, pos):  # both row sets are prefixes of the 2B rows: slices, not gathers
            return pair(lambda: pi_stream(ids[:n_pi], mask[:n_pi], pos[:n_pi]),  # (n_pi, V)
                        lambda: mu_stream(ids[:n_mu], mask[:n_mu], pos[:n_mu]))  # (n_mu, V)

    eos = policy.tokenizer.eos_token_id
    pad = policy.tokenizer.pad_token_id
    mask, pos = prompt_mask.repeat(2, 1), pos0.repeat(2, 1)  # (2B, Tp)
    out_ids, out_mask, ref_tok = [], [], []
    done = torch.zeros(2 * B, dtype=torch.bool, device=prompt_ids.device)
    with _side_by_side(concurrent) as pair:  # the full-FT prefill / forward call pair(policy part, reference part)
        for k in range(max_new_tokens):
            lp_pi, lp_mu = prefill() if k == 0 else forward(ids, mask, pos)  # (n_pi, V), (n_mu, V)
            if mixture == 0.0:
                lp_opp = lp_pi[B:]
            elif mixture == 1.0:
                lp_opp = lp_mu[B:]
            else:
                lp_opp = mixture_logprobs(lp_pi[B:], lp_mu[B:], mixture)  # (B, V)
            logp = torch.cat([lp_pi[:B], lp_opp])  # (2B, V)
            probs = torch.softmax(logp / temperature, dim=-1)  # (2B, V)
            nxt = draw(probs, generator)  # (2B,)
            nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
            tok = torch.gather(lp_mu[:B], -1, nxt[:B, None]).squeeze(-1)  # (B,) log mu(y_k | x, y_<k)
            ref_tok.append(torch.where(done[:B], torch.zeros_like(tok), tok))
            out_ids.append(nxt)
            out_mask.append((~done).long())
            if stop_at_eos and eos is not None:
                done = done | (nxt == eos)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)  # (2B, Tp + k + 1)
            pos = pos[:, -1:] + 1  # (2B, 1)
            ids = nxt[:, None]
            if bool(done.all()):
                break
    policy.model.train(was_training)
    response_ids = torch.stack(out_ids, 1)  # (2B, Tr)
    response_mask = torch.stack(out_mask, 1)  # (2B, Tr)
    ys = _half(prompts, prompt_ids, prompt_mask, response_ids[:B], response_mask[:B], policy)
    opp = _half(prompts, prompt_ids, prompt_mask, response_ids[B:], response_mask[B:], policy)
    ref_logp = torch.stack(ref_tok, 1)[:, :ys.response_ids.shape[1]]  # (B, Tr)
    return ys, opp, ref_logp
