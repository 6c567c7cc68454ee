"""Packed pair rows: one ``[prompt | chosen | rejected]`` row per preference pair.

The rejected tokens take the positions that follow the prompt (as if the
chosen reply were not there) and a 4-D attention mask lets them see the
prompt and themselves but not the chosen tokens, so one forward scores both
completions exactly as two separate (prompt, completion) sequences would,
with the prompt computed once. Used by :mod:`rlhf.dpo` (full forward) and
:mod:`rlhf.fast_dpo` (the trained top layers on cached activations).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["collate_packed"]


def collate_packed(triples, pad_id: int, device, float_mask_dtype=None):
    """One row ``[prompt | chosen | rejected | pad]`` per pair.

    Returns the model inputs (ids, position ids, 4-D mask) and the flat
    positions, targets and output slots (i: chosen of pair i, B + i: rejected)
    of every completion token.
    """
    B = len(triples)
    lengths = [len(p) + len(c) + len(r) for p, c, r in triples]
    T = max(lengths)
    ids = np.full((B, T), pad_id, dtype=np.int64)
    position = np.zeros((B, T), dtype=np.int64)
    segment = np.full((B, T), 3, dtype=np.int8)  # 0 prompt, 1 chosen, 2 rejected, 3 pad
    flat, slot = [], []
    for i, (p, c, r) in enumerate(triples):
        P, C, R = len(p), len(c), len(r)
        ids[i, :P], ids[i, P : P + C], ids[i, P + C : P + C + R] = p, c, r
        position[i, : P + C] = np.arange(P + C)
        position[i, P + C : P + C + R] = np.arange(P, P + R)
        segment[i, :P], segment[i, P : P + C], segment[i, P + C : P + C + R] = 0, 1, 2
        # the last prompt token predicts the first token of both completions
        flat += [i * T + P - 1, i * T + P + np.arange(C - 1)]
        flat += [i * T + P - 1, i * T + P + C + np.arange(R - 1)]
        slot += [np.full(C, i), np.full(R, B + i)]
    targets = np.concatenate([np.concatenate([c, r]) for _, c, r in triples])
    flat = np.concatenate([np.atleast_1d(x) for x in flat]).astype(np.int64)
    as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    seg = as_t(segment)
    causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
    key, query = seg[:, None, :], seg[:, :, None]
    # a key is visible if it is not later and is a prompt token or in the query's own segment
    # (pads see the prompt and earlier pads: no row is all-masked, so no NaN)
    mask = (causal & ((key == 0) | (key == query)))[:, None]
    if float_mask_dtype is not None:
        mask = torch.zeros(mask.shape, dtype=float_mask_dtype, device=device).masked_fill(
            ~mask, torch.finfo(float_mask_dtype).min
        )
    inputs = {"input_ids": as_t(ids), "position_ids": as_t(position), "attention_mask": mask}
    return inputs, as_t(flat), as_t(targets), as_t(np.concatenate(slot).astype(np.int64))
