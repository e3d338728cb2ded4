"""The training loop of a deep ensemble: a function, apart from the model (STYLE §1).

AdamW with a cosine learning-rate schedule; each member early-stops on its own
validation loss and keeps its best weights.  Minibatch order is a function of
``(seed, epoch, member)`` only, so a fit resumed from a checkpoint continues exactly
where the killed one was: checkpoints are safetensors files (never pickle).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emulators.neural.model import BatchedMLP, gaussian_nll


@dataclass
class TrainReport:
    """What :func:`train` did, per member."""

    epochs: list[int] = field(default_factory=list)  # best epoch of each member
    best_val: list[float] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # "early-stopped" or "max_epochs"
    resumed_from: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"best_epoch": self.epochs, "best_val_nll": self.best_val,
                "stopped": self.stopped, "resumed_from_epoch": self.resumed_from}


def train(model: BatchedMLP, U: np.ndarray, Z: np.ndarray, train_mask: np.ndarray,
          val_mask: np.ndarray, *, epochs: int, patience: int, lr: float,
          weight_decay: float, batch_size: int, beta: float, seed: int,
          checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 50,
          checkpoint_key: str = "", progress: bool = False, device: str = "cpu"
          ) -> TrainReport:
    """Train ``model`` in place; leave each member at its best validation epoch.

    Parameters
    ----------
    U, Z : ndarray (n, d), (n, m)
        Unit-cube inputs and standardised latent outputs.
    train_mask, val_mask : bool ndarray (K, n)
        Which points each member trains and early-stops on.
    checkpoint : path, optional
        A ``.safetensors`` file written every ``checkpoint_every`` epochs; a fit that
        finds one made for the same data and settings (``checkpoint_key``) resumes from it.
    """
    K = train_mask.shape[0]
    if len(set(train_mask.sum(axis=1).tolist())) != 1:
        raise ValueError("every member must train on the same number of points")
    model.to(device)
    x = torch.as_tensor(U, dtype=torch.float64, device=device)
    z = torch.as_tensor(Z, dtype=torch.float64, device=device)
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda e: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(e / epochs, 1.0))))
    best = [p.detach().clone() for p in params]
    best_val = torch.full((K,), float("inf"), dtype=torch.float64, device=device)
    best_epoch = torch.zeros(K, dtype=torch.int64, device=device)
    bad = torch.zeros(K, dtype=torch.int64, device=device)
    start = 0
    if checkpoint is not None and Path(checkpoint).is_file():
        start = _load(checkpoint, checkpoint_key, model, opt, sched, best, best_val,
                      best_epoch, bad)
    train_idx = [np.flatnonzero(train_mask[k]) for k in range(K)]
    vmask = torch.as_tensor(val_mask, dtype=torch.float64, device=device)
    vcount = vmask.sum(dim=1).clamp(min=1)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=start, desc="training ensemble", unit="epoch",
                   leave=False)
    epoch = start
    try:
        for epoch in range(start, epochs):
            if bool((bad > patience).all()):
                break
            rng = np.random.default_rng([seed, epoch])
            perms = np.stack([rng.permutation(t) for t in train_idx])  # (K, n_train)
            for j in range(0, perms.shape[1], batch_size):
                xi = torch.as_tensor(perms[:, j:j + batch_size], device=device)
                opt.zero_grad()
                mu, var = model(x[xi])
                loss = gaussian_nll(mu, var, z[xi], beta).mean(dim=1)
                active = (bad <= patience).to(torch.float64)  # stopped members stay put
                (loss * active).sum().backward()
                opt.step()
            sched.step()
            with torch.no_grad():
                mu, var = model(x)
                val = (gaussian_nll(mu, var, z.expand_as(mu)) * vmask).sum(dim=1) / vcount
                better = (val < best_val) & (bad <= patience)
                for p, b in zip(params, best, strict=True):
                    b[better] = p.detach()[better]
                best_val = torch.where(better, val, best_val)
                best_epoch = torch.where(better, torch.full_like(best_epoch, epoch), best_epoch)
                bad = torch.where(better, torch.zeros_like(bad), bad + 1)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(val_nll=f"{float(best_val.mean()):.4f}")
            if checkpoint is not None and (epoch + 1) % checkpoint_every == 0:
                _save(checkpoint, checkpoint_key, epoch + 1, model, opt, sched, best,
                      best_val, best_epoch, bad)
    finally:
        if bar is not None:
            bar.close()
    with torch.no_grad():
        for p, b in zip(params, best, strict=True):
            p.copy_(b)
    return TrainReport(best_epoch.tolist(), best_val.tolist(),
                       ["early-stopped" if int(b) > patience else "max_epochs" for b in bad],
                       start)


def _state_tensors(model, opt, best, best_val, best_epoch, bad) -> dict[str, torch.Tensor]:
    out = {f"param.{i}": p.detach() for i, p in enumerate(model.parameters())}
    out.update({f"best.{i}": b for i, b in enumerate(best)})
    for i, p in enumerate(model.parameters()):
        st = opt.state.get(p, {})
        if st:
            out[f"adam.{i}.exp_avg"] = st["exp_avg"]
            out[f"adam.{i}.exp_avg_sq"] = st["exp_avg_sq"]
            out[f"adam.{i}.step"] = torch.as_tensor(float(st["step"]), dtype=torch.float32)
    out.update(best_val=best_val, best_epoch=best_epoch, bad=bad)
    return {k: v.detach().cpu().contiguous() for k, v in out.items()}


def _save(path, key, epoch, model, opt, sched, best, best_val, best_epoch, bad) -> None:
    from safetensors.torch import save_file

    tmp = f"{os.fspath(path)}.tmp"
    save_file(_state_tensors(model, opt, best, best_val, best_epoch, bad), tmp,
              metadata={"twinemu.checkpoint": json.dumps({"key": key, "epoch": epoch,
                                                          "sched": sched.last_epoch})})
    os.replace(tmp, path)


def _load(path, key, model, opt, sched, best, best_val, best_epoch, bad) -> int:
    """Restore a checkpoint in place; return its epoch (0 when it is for another fit)."""
    import warnings

    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("twinemu.checkpoint", "{}"))
            if meta.get("key") != key:
                warnings.warn(f"checkpoint {os.fspath(path)!r} was made for other data or "
                              f"settings; starting afresh", UserWarning, stacklevel=4)
                return 0
            t = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError):
        warnings.warn(f"checkpoint {os.fspath(path)!r} is unreadable; starting afresh",
                      UserWarning, stacklevel=4)
        return 0
    params = list(model.parameters())
    with torch.no_grad():
        for i, p in enumerate(params):
            p.copy_(t[f"param.{i}"])
            best[i].copy_(t[f"best.{i}"])
            if f"adam.{i}.exp_avg" in t:
                opt.state[p] = {"exp_avg": t[f"adam.{i}.exp_avg"].to(p.device),
                                "exp_avg_sq": t[f"adam.{i}.exp_avg_sq"].to(p.device),
                                "step": t[f"adam.{i}.step"].clone()}
        best_val.copy_(t["best_val"])
        best_epoch.copy_(t["best_epoch"])
        bad.copy_(t["bad"])
    sched.last_epoch = int(meta.get("sched", 0))  # the learning rate where it was
    for group, base, fn in zip(opt.param_groups, sched.base_lrs, sched.lr_lambdas, strict=True):
        group["lr"] = base * fn(sched.last_epoch)
    return int(meta["epoch"])
