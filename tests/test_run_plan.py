"""A run says its plan before a long wait: steps, epochs, batch, what else it trains, then its estimated time."""

from types import SimpleNamespace

from tlm_hf.training import plan
from tlm_hf.training.plan import RunPlan, duration


def fake_run(max_steps, epochs=3, batch=32):
    args = SimpleNamespace(per_device_train_batch_size=batch, gradient_accumulation_steps=1, world_size=1)
    state = SimpleNamespace(is_world_process_zero=True, max_steps=max_steps, num_train_epochs=epochs, global_step=0)
    return args, state


def test_plan_line_names_steps_epochs_batch_and_the_vocabulary_then_the_time_measured_on_the_first_steps(monkeypatch):
    said = []
    now = [0.0]
    monkeypatch.setattr(plan.time, "perf_counter", lambda: now[0])
    callback = RunPlan("pre-training", also_trained="a WordPiece vocabulary of 4,096 tokens", printer=said.append)
    args, state = fake_run(3408, epochs=24)
    callback.on_train_begin(args, state, None)
    assert said == ["plan: pre-training 3,408 steps (24 epochs of about 142 steps, batch 32); also trained: a "
                    "WordPiece vocabulary of 4,096 tokens; time estimated after 20 steps"]
    for step in range(1, 30):
        state.global_step, now[0] = step, 2.0 * step  # every step takes 2 s
        callback.on_step_end(args, state, None)
    assert said[1:] == ["estimated time: 1 h 53 min for the 3,387 steps left (2.00 s a step over 20; evaluations "
                        "come on top)"]  # said once, after the first step (warm-up) and 20 timed ones


def test_a_short_run_says_its_plan_without_an_estimate_and_a_fine_tune_trains_nothing_else():
    said = []
    callback = RunPlan("fine-tuning", printer=said.append)
    args, state = fake_run(12, epochs=1)
    callback.on_train_begin(args, state, None)
    for step in range(1, 13):
        state.global_step = step
        callback.on_step_end(args, state, None)
    assert said == ["plan: fine-tuning 12 steps (1 epoch of about 12 steps, batch 32); nothing else is trained"]


def test_durations_read_as_a_person_says_them():
    assert [duration(s) for s in (38, 89.6, 2760, 3900)] == ["38 s", "90 s", "46 min", "1 h 05 min"]
