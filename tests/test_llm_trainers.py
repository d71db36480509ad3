"""Short training runs of the policy-gradient trainers through the shared loop: exact query counts, the
typed state after a run, and resume-after-kill of Nash-MP mid-phase (its state holds weight snapshots)."""

import pytest
import torch

from workbench.llm.judges import OracleJudge, bt_oracle_judge
from workbench.llm.checkpoint import load_checkpoint
from workbench.llm.loop import LoopConfig, train
from workbench.llm.nash_ema_pg import NashEMAPG, NashEMAState
from workbench.llm.nash_md_pg import NashMDPG, self_play
from workbench.llm.nash_mp import NashMPPG, NashMPState
from workbench.llm.models import load_policy
from workbench.llm.rlhf import RLOO

STEPS, BATCH = 4, 3
CFG = LoopConfig(steps=STEPS, batch_size=BATCH, lr=1e-2, eval_every=2, seed=3)


def fresh(task):
    return load_policy("tiny", device="cpu", seed=0).constrain(task.words)


@pytest.mark.parametrize("trainer, per_step", [
    (NashMDPG(beta=0.1, mixture=0.25), BATCH),
    (self_play(beta=0.1), BATCH),
    (NashEMAPG(beta=0.1, decay=0.5), BATCH),
    (NashMPPG(beta=0.1, inner_steps=2), BATCH),  # 1 query per prompt per inner step: 2 M B per iteration
    (RLOO(beta=0.1, k=3), BATCH * 3),  # one reward query per sample: B k
], ids=lambda v: getattr(v, "name", str(v)))
def test_short_run_counts_queries_exactly(task, trainer, per_step):
    pol = fresh(task)
    judge = bt_oracle_judge(task) if isinstance(trainer, RLOO) else OracleJudge(task)
    run = train(trainer, pol, judge, task.prompts, CFG, progress=False)
    assert run.steps == STEPS
    assert run.queries == judge.queries == STEPS * per_step
    q = run.frame.groupby("step")["queries"].max()
    assert q.to_dict() == {2: 2 * per_step, 4: 4 * per_step}  # no evaluator: no step-0 rows
    losses = run.frame[run.frame.metric == "loss"]["value"]
    assert len(losses) == 2 and losses.map(float).notna().all()
    assert any(not torch.equal(w, 0 * w) for n, w in pol.snapshot().items() if "lora_B" in n)  # it moved


def test_ema_state_after_a_run(task):
    pol = fresh(task)
    w0 = pol.snapshot()
    run = train(NashEMAPG(beta=0.1, decay=0.5), pol, OracleJudge(task), task.prompts, CFG, progress=False)
    assert isinstance(run.state, NashEMAState)
    w = pol.snapshot()
    name = next(n for n in w if "lora_B" in n)
    # the EMA lies strictly between the start (B = 0) and the current weights: it moved, and lags
    assert not torch.equal(run.state.ema[name], w0[name]) and not torch.equal(run.state.ema[name], w[name])


def test_nash_mp_state_after_a_run(task):
    pol = fresh(task)
    run = train(NashMPPG(beta=0.1, inner_steps=2), pol, OracleJudge(task), task.prompts, CFG, progress=False)
    s = run.state  # 4 steps with M = 2: one full iteration (half, full) done
    assert isinstance(s, NashMPState) and (s.phase, s.inner, s.outer, s.half) == ("half", 0, 1, None)
    assert all(torch.equal(s.centre[n], w) for n, w in pol.snapshot().items())  # the centre is pi_1 = now
    rows = run.frame[run.frame.metric == "full_phase"].set_index("step")["value"]
    assert rows.to_dict() == {2: 0.0, 4: 1.0}  # step 2 was the half step's last, step 4 the full step's


def test_nash_mp_resume_mid_phase_matches_an_uninterrupted_run(task, tmp_path, killed_judge):
    cfg = LoopConfig(steps=6, batch_size=BATCH, lr=1e-2, eval_every=2, seed=5)
    trainer = NashMPPG(beta=0.1, inner_steps=3)  # the step-4 checkpoint is inside the full phase (inner 1)
    pol = fresh(task)
    full = train(trainer, pol, OracleJudge(task), task.prompts, cfg, progress=False)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):  # dies during step 5, after the step-4 checkpoint
        train(trainer, fresh(task), killed_judge(task, kill_at=5), task.prompts, cfg, checkpoint=ckpt, progress=False)
    saved = load_checkpoint(ckpt)["trainer_state"]
    assert (saved.phase, saved.inner, saved.outer) == ("full", 1, 0) and saved.half is not None
    pol3 = fresh(task)
    resumed = train(trainer, pol3, OracleJudge(task), task.prompts, cfg, checkpoint=ckpt, resume=True,
                    progress=False)
    for n, w in pol.snapshot().items():
        assert torch.equal(w, pol3.snapshot()[n]), n
    for n, w in full.state.centre.items():
        assert torch.equal(w, resumed.state.centre[n]), n
    assert resumed.frame.equals(full.frame) and resumed.queries == full.queries == 6 * BATCH
    with pytest.raises(ValueError, match=r"trainer.inner_steps: checkpoint 3 vs now 2"):
        train(NashMPPG(beta=0.1, inner_steps=2), fresh(task), OracleJudge(task), task.prompts, cfg,
              checkpoint=ckpt, resume=True, progress=False)


def test_make_trainer_names_unknown_trainers_and_bad_hyperparameters():
    from workbench.llm import make_trainer

    assert make_trainer("Self-play", beta=0.2).mixture == 0.0
    with pytest.raises(KeyError, match="unknown LLM trainer 'Nash-XX'; known: Nash-MD-PG"):
        make_trainer("Nash-XX")
    with pytest.raises(TypeError, match="bad hyperparameters for 'Nash-MP'"):
        make_trainer("Nash-MP", mixtur=0.1)


def test_loop_optimizer_is_fused_adamw_with_adamw_updates():
    """``make_optimizer`` (the loop's AdamW) runs PyTorch's fused kernel on CPU and makes AdamW's updates."""
    from workbench.llm.loop import make_optimizer

    g = torch.Generator().manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(5, 3, generator=g)), torch.nn.Parameter(torch.randn(7, generator=g))]
    plain = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    a = make_optimizer(ours, 1e-2, 0.1)
    b = torch.optim.AdamW(plain, lr=1e-2, weight_decay=0.1, foreach=False)
    assert a.defaults["fused"] is True
    for _ in range(3):
        for p, q in zip(ours, plain):
            grad = torch.randn(p.shape, generator=g)
            p.grad, q.grad = grad.clone(), grad.clone()
        a.step()
        b.step()
    for p, q in zip(ours, plain):
        assert torch.allclose(p, q, atol=1e-6), (p - q).abs().max()
        assert not torch.equal(p, torch.zeros_like(p))
