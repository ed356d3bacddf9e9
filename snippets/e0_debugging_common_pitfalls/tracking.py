"""E0, tracking experiments: log a learning curve to TensorBoard or Weights & Biases."""

# --8<-- [start:imports]
from __future__ import annotations

import os

import numpy as np

# --8<-- [end:imports]


# --8<-- [start:tracking]
def track_curve(
    returns: np.ndarray, backend: str, logdir: str | os.PathLike[str], run_name: str
) -> str:
    """Log a learning curve to TensorBoard or Weights & Biases; return where it went.

    W&B is never asked to go online here: without ``WANDB_MODE`` it records offline
    (upload later with ``wandb sync``), so no API key is needed.

    Args:
        returns: one value per episode.
        backend: ``"tensorboard"`` or ``"wandb"``.
        logdir: folder for the event files or the offline W&B run.
        run_name: name of the run in the dashboard.
    """
    logdir = os.fspath(logdir)
    if backend == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=os.path.join(logdir, run_name))
        for episode, value in enumerate(returns):
            writer.add_scalar("charts/episodic_return", float(value), episode)
        writer.close()
        return writer.log_dir
    if backend == "wandb":
        import wandb

        run = wandb.init(
            project="rl-course-e0",
            name=run_name,
            dir=logdir,
            mode=os.environ.get("WANDB_MODE", "offline"),
            reinit="finish_previous",
        )
        for episode, value in enumerate(returns):
            run.log({"charts/episodic_return": float(value)}, step=episode)
        run.finish()
        return run.dir
    raise ValueError(f"backend must be 'tensorboard' or 'wandb', got {backend!r}")


# --8<-- [end:tracking]
