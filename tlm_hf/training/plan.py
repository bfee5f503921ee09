"""A run's plan in one line as its training starts (steps, epochs, batch, what is trained besides the model), then
its estimated time once the first steps are measured: a user learns before a long wait how long it will be.

    trainer = Trainer(..., callbacks=[RunPlan("pre-training", also_trained="a WordPiece vocabulary ...")])
"""

import math
import time

from transformers import TrainerCallback

TIMED_STEPS = 20  # steps measured (after the first, which pays for warming up) before the time is estimated


def duration(seconds: float) -> str:
    """`46 min`, `1 h 05 min`, `38 s`."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class RunPlan(TrainerCallback):
    """Prints the plan when training begins and the estimated time after TIMED_STEPS steps (main process only).

    what: the stage, e.g. "pre-training" or "fine-tuning"; also_trained: what else the run trains (None: nothing)."""

    def __init__(self, what: str, *, also_trained: str | None = None, printer=print):
        self.what, self.also_trained, self.printer = what, also_trained, printer
        self.timed, self.first_step, self.started = 0, None, None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
        epochs = state.num_train_epochs
        per_epoch = math.ceil(state.max_steps / epochs) if epochs else state.max_steps
        also = f"; also trained: {self.also_trained}" if self.also_trained else "; nothing else is trained"
        long_run = state.max_steps - state.global_step > 2 * TIMED_STEPS  # a shorter one is over before an estimate
        timed = TIMED_STEPS if long_run else 0
        estimate = f"; time estimated after {timed} steps" if timed else ""
        self.printer(f"plan: {self.what} {state.max_steps:,} steps ({epochs:g} epoch{'s' if epochs != 1 else ''} of "
                     f"about {per_epoch:,} steps, batch {batch}){also}{estimate}")
        self.timed, self.first_step = timed, None

    def on_step_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or self.timed <= 0:
            return
        if self.first_step is None:
            self.first_step, self.started = state.global_step, time.perf_counter()
        elif state.global_step - self.first_step == self.timed:
            seconds = (time.perf_counter() - self.started) / self.timed
            left = state.max_steps - state.global_step
            self.printer(f"estimated time: {duration(seconds * left)} for the {left:,} steps left "
                         f"({seconds:.2f} s a step over {self.timed}; evaluations come on top)")
            self.timed = 0
