"""Fast DPO on a CPU: train the top layers on cached activations of the rest.

Full DPO fine-tuning of SmolLM2-135M runs every token of every pair through
all 30 decoder layers three times per step (forward, and backward through
activations and weights), every epoch, plus a reference pass. When only the
top ``train_layers`` decoder layers (and the final norm) are trained, the
frozen layers below compute the same hidden states every time a sequence is
seen, so they are computed once and kept:

- :class:`FrozenPrefix` keeps, per (prompt, completion) token sequence, the
  hidden states entering the first trained layer (``hidden_states[cut]`` of
  the model's own forward, so they are the live model's by construction), in a
  bounded in-process cache shared by every fine-tune of the same base model
  (a grid trains many policies on replies drawn from one fixed pool, so most
  sequences recur);
- a step runs only the trained layers, the final norm and the (frozen, tied)
  LM head, on one packed row ``[prompt | chosen | rejected]`` per pair
  assembled from the cached pieces (the same positions and 4-D mask as
  :mod:`rlhf.dpo`'s packed rows: a completion's hidden states at the cut
  depend on the prompt and itself only);
- the reference log-probs come from the same top pass before the first step.

The loss and the gradients of the trained layers equal full fine-tuning's
(the gradient of a top layer does not depend on whether the layers below it
train; ``tests/rlhf/test_fast_dpo.py`` checks both, and that cached
activations equal live ones). What differs is what learns: full fine-tuning
also moves the lower layers, the embeddings and the tied LM head.
``benchmarks/bench_fast_dpo.py`` measures the speed-up and compares the
fine-tuned quality of both over seeds.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import torch

from .packing import collate_packed

__all__ = ["FrozenPrefix", "decoder_layers", "trainable_top"]

#: bytes of cached hidden states kept per process (float32), oldest dropped first
CACHE_BYTES = 1 << 30

# (model fingerprint, cut) -> OrderedDict(sequence digest -> (length, H) tensor)
_CACHES: dict[tuple, OrderedDict] = {}


def decoder_layers(model):
    """(backbone, its decoder layers) of a Llama-style causal LM, or a one-line
    ValueError for a model the fast mode cannot split."""
    backbone = getattr(model, "model", None)
    layers = getattr(backbone, "layers", None)
    ok = (
        layers is not None
        and hasattr(backbone, "norm")
        and hasattr(backbone, "rotary_emb")
        and hasattr(model, "get_output_embeddings")
    )
    if not ok:
        raise ValueError(
            f"train_layers: the fast mode needs a Llama-style model (model.model.layers, "
            f".norm, .rotary_emb); {type(model).__name__} is not one (use train_layers=None)"
        )
    return backbone, layers


def trainable_top(model, train_layers: int) -> list[torch.nn.Parameter]:
    """The parameters of the top ``train_layers`` decoder layers and the final
    norm (what the fast mode trains); a one-line ValueError when the model has
    fewer layers."""
    backbone, layers = decoder_layers(model)
    if not 1 <= train_layers <= len(layers):
        raise ValueError(
            f"train_layers: must be between 1 and the model's {len(layers)} decoder layers, "
            f"got {train_layers}"
        )
    params = [p for layer in layers[len(layers) - train_layers :] for p in layer.parameters()]
    return params + list(backbone.norm.parameters())


def _fingerprint(model, cut: int) -> str:
    """What the cached activations depend on: the config and every weight below
    the cut (embeddings and the lower layers): each tensor's sum and sum of
    absolute values (float32) and every 97th value, hashed (a full fine-tune moves
    every weight, so it changes all three; far cheaper than hashing 0.5 GB).
    Policies fine-tuned in the fast mode from one base keep its lower layers,
    so they share its cache; any other weights get their own."""
    backbone, layers = decoder_layers(model)
    frozen = [*backbone.embed_tokens.parameters(), *layers[:cut].parameters()]
    # memoized on the model until a weight below the cut is changed in place
    # (torch counts in-place changes of a tensor in ``_version``)
    versions = (cut, tuple(id(p) for p in frozen), sum(p._version for p in frozen))
    memo = getattr(model, "_fast_dpo_fingerprint", None)
    if memo is not None and memo[0] == versions:
        return memo[1]
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(sorted(model.config.to_dict().items())).encode())
    with torch.no_grad():
        for p in frozen:
            flat = p.detach().reshape(-1)
            sums = torch.stack([flat.sum(), flat.abs().sum()]).float()
            h.update(sums.cpu().numpy().tobytes())
            h.update(flat[::97].float().cpu().numpy().tobytes())
    digest = h.hexdigest()
    model._fast_dpo_fingerprint = (versions, digest)
    return digest


class FrozenPrefix:
    """The frozen lower layers of ``model`` below its top ``train_layers``, with
    their outputs cached per token sequence, and the top pass that scores
    pairs from them."""

    def __init__(self, model, train_layers: int) -> None:
        self.backbone, layers = decoder_layers(model)
        trainable_top(model, train_layers)  # checks the count
        self.model = model
        self.cut = len(layers) - train_layers
        self.top = layers[self.cut :]
        self.head = model.get_output_embeddings()
        self.device = next(model.parameters()).device
        key = (_fingerprint(model, self.cut), self.cut, str(self.device))
        self.cache = _CACHES.setdefault(key, OrderedDict())

    # ------------------------------------------------------------- the cache
    @staticmethod
    def _key(ids: np.ndarray) -> bytes:
        return hashlib.blake2b(
            np.ascontiguousarray(ids, np.int64).tobytes(), digest_size=16
        ).digest()

    def hidden(self, seqs: list[np.ndarray], batch_size: int = 16) -> list[torch.Tensor]:
        """Hidden states entering the first trained layer, (len, H) float32 per
        token sequence (from the cache, or one no-grad forward of the model for
        the sequences it lacks, in length-sorted right-padded batches)."""
        keys = [self._key(s) for s in seqs]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if todo:
            first = {k: s for k, s in zip(keys, seqs, strict=True)}
            missing = [first[k] for k in todo]
            order = np.argsort([len(s) for s in missing], kind="stable")
            was_training = self.model.training
            self.model.eval()
            try:
                with torch.inference_mode():
                    for start in range(0, len(order), batch_size):
                        idx = order[start : start + batch_size]
                        T = max(len(missing[i]) for i in idx)
                        ids = np.zeros((len(idx), T), dtype=np.int64)
                        for row, i in enumerate(idx):
                            ids[row, : len(missing[i])] = missing[i]
                        # right padding: no real token attends to a pad (causal)
                        out = self.backbone(
                            input_ids=torch.from_numpy(ids).to(self.device),
                            output_hidden_states=True,
                            use_cache=False,
                        ).hidden_states[self.cut]
                        for row, i in enumerate(idx):
                            h = out[row, : len(missing[i])].float().clone()
                            self.cache[todo[i]] = h
            finally:
                self.model.train(was_training)
            self._trim()
        for k in keys:
            self.cache.move_to_end(k)
        return [self.cache[k] for k in keys]

    def _trim(self) -> None:
        total = sum(t.numel() * 4 for t in self.cache.values())
        while total > CACHE_BYTES and len(self.cache) > 1:
            _, t = self.cache.popitem(last=False)
            total -= t.numel() * 4

    # ---------------------------------------------------------- the top pass
    def pair_logps(self, triples, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(chosen, rejected) summed completion log-probs of a batch of (prompt,
        chosen, rejected) id triples: the cached lower layers, then the trained
        top on one packed row per pair. Differentiable in the top's parameters."""
        seqs = [np.concatenate([p, c]) for p, c, _ in triples]
        seqs += [np.concatenate([p, r]) for p, _, r in triples]
        h = self.hidden(seqs)
        B = len(triples)
        eager = self.model.config._attn_implementation == "eager"
        dtype = next(self.top.parameters()).dtype
        inputs, flat, targets, slot = collate_packed(
            triples, pad_id, self.device, dtype if eager else None
        )
        T = inputs["input_ids"].shape[1]
        rows = torch.zeros(B, T, h[0].shape[-1], dtype=dtype, device=self.device)
        for i, (p, c, r) in enumerate(triples):
            P, C, R = len(p), len(c), len(r)
            rows[i, : P + C] = h[i]  # prompt and chosen
            rows[i, P + C : P + C + R] = h[B + i][P:]  # rejected, after the chosen
        position = inputs["position_ids"]
        emb = self.backbone.rotary_emb(rows, position_ids=position)
        x = rows
        for layer in self.top:
            x = layer(
                x,
                attention_mask=inputs["attention_mask"],
                position_ids=position,
                position_embeddings=emb,
            )
        x = self.backbone.norm(x)
        logits = self.head(x.reshape(-1, x.shape[-1]).index_select(0, flat))
        token = -torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")
        out = torch.zeros(2 * B, device=self.device).index_add(0, slot, token)
        return out[:B], out[B:]
