"""The causal LM's hidden states as item embeddings: name an embedder `lm:<model>` (e.g. `lm:smollm2-135m`).

A mean over the last layer's hidden states of the item text, L2-normalised. It lets the evaluation ask whether
what the LM knows about titles helps as a similarity signal, beside or instead of a sentence-transformer.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .models import forward_lock, load_causal_lm

PREFIX = "lm:"


class LMEncoder:
    """Quacks like a SentenceTransformer for `encode()`, which is all `Embedder` uses."""

    def __init__(self, model_name: str, device: str | None = None, max_tokens: int = 48):
        import torch

        self.torch = torch
        self.model, self.tok = load_causal_lm(model_name, device)
        self.device = next(self.model.parameters()).device
        self.max_tokens = max_tokens

    def encode(self, texts: Sequence[str], batch_size: int = 64, **_) -> np.ndarray:
        """(len(texts), hidden) unit vectors; each text's vector does not depend on its batch."""
        torch = self.torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self.tok(list(texts[start:start + batch_size]), padding=True, truncation=True,
                                 max_length=self.max_tokens, return_tensors="pt", add_special_tokens=False)
                batch = {k: v.to(self.device) for k, v in batch.items()}
                with forward_lock(self.model):  # shared with the scorers of the same model object
                    hidden = self.model.base_model(**batch).last_hidden_state.float()  # (B, T, H)
                mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
                out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).cpu().numpy())
        vecs = np.concatenate(out) if out else np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return (vecs / np.where(norms > 0, norms, 1)).astype(np.float32)
