"""Token log-likelihoods from a local causal LM, computed on the device.

Label scoring runs each prompt once and all options together as one packed continuation of
the prompt's key/value cache, so a label like "Sci/Tech" or "very positive" costs a few extra
tokens rather than a second pass over the prompt. Only the hidden states at positions whose next
token is scored go through the output head (in bounded chunks of rows), and only each target
token's log-probability is gathered from them, on the device; the host receives one number per
score. Full-vocabulary log-probabilities are never materialised for whole sequences.

Sequences are right-padded, so every real token sits at the position it has unpadded; the
continuations carry explicit position ids (prompt length + offset) and attend to the prompt's
cache through an attention mask that hides the padding between prompt and continuation. That
mask is 4D and additive, which the eager and SDPA attentions take (the default ones);
FlashAttention-2 takes no such mask.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import Cache, PreTrainedModel

# Rows of hidden states projected onto the vocabulary at once: bounds the float32 logits
# (rows x vocabulary) to about 200 MB for a 50k vocabulary, 600 MB for 150k.
HEAD_ROWS = 1024


@dataclass(frozen=True)
class TokenScorer:
    """A causal LM with what batching it needs: padding token and prompts per forward pass."""

    model: PreTrainedModel
    pad_token_id: int
    batch_size: int

    @property
    def device(self) -> torch.device:
        return self.model.device

    @torch.inference_mode()
    def option_logprobs(
        self, prompt_ids: Sequence[list[int]], option_ids: Sequence[list[int]]
    ) -> np.ndarray:
        """(prompts, options) summed log-probability of each option's tokens after each prompt."""
        if any(not ids for ids in option_ids):
            raise ValueError("an option tokenised to no tokens cannot be scored")
        scores = np.zeros((len(prompt_ids), len(option_ids)), dtype=np.float64)
        # Longest first keeps padding small within each batch.
        order = sorted(range(len(prompt_ids)), key=lambda i: -len(prompt_ids[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            scores[chunk] = self._option_batch([prompt_ids[i] for i in chunk], option_ids)
        return scores

    def _option_batch(self, prompts: list[list[int]], options: Sequence[list[int]]) -> np.ndarray:
        continued = [k for k, ids in enumerate(options) if len(ids) > 1]
        ids, mask = self._padded(prompts)
        lengths = mask.sum(dim=1)
        decoder = self.model.get_decoder()
        out = decoder(input_ids=ids, attention_mask=mask, use_cache=bool(continued))
        rows = torch.arange(len(prompts), device=self.device)
        last = out.last_hidden_state[rows, lengths - 1]
        # Every option's first token is predicted by the prompt's last position: one row each.
        first = torch.tensor([o[0] for o in options], device=self.device)
        scores = self._column_logprobs(last, first)  # (prompts, options)
        if continued:
            rest = self._continuation(out.cache, mask, lengths, [options[k] for k in continued])
            scores[:, continued] += rest
        return scores.double().cpu().numpy()

    def _continuation(
        self,
        cache: Cache,
        prompt_mask: torch.Tensor,
        lengths: torch.Tensor,
        options: list[list[int]],
    ) -> torch.Tensor:
        """(prompts, options) log-probability of each option's tokens after its first.

        The options are packed into one continuation row per prompt: every option's tokens but
        its last, one option after another. A 4D mask lets each token see the prompt and the
        earlier tokens of its own option only, and position ids restart at the prompt's length
        for each option, so each option is computed exactly as if it alone followed the prompt,
        without copying the prompt's cache once per option.
        """
        n_prompts = len(lengths)
        fed: list[int] = []  # the tokens fed (an option's last token is predicted, never fed)
        targets: list[int] = []  # the token each fed position predicts
        offsets: list[int] = []  # a fed token's position within its option
        option_of: list[int] = []
        for k, option in enumerate(options):
            fed += option[:-1]
            targets += option[1:]
            offsets += range(len(option) - 1)
            option_of += [k] * (len(option) - 1)
        width = len(fed)
        owner = torch.tensor(option_of, device=self.device)
        offset = torch.tensor(offsets, device=self.device)
        # Token i sees token j of the continuation when both belong to one option and j <= i.
        own = (owner[:, None] == owner[None, :]) & (offset[None, :] <= offset[:, None])
        sees = torch.cat(
            [
                prompt_mask.bool()[:, None, :].expand(n_prompts, width, prompt_mask.shape[1]),
                own[None].expand(n_prompts, width, width),
            ],
            dim=2,
        )[:, None]  # (prompts, 1, continuation, prompt + continuation)
        dtype = self.model.dtype
        # Additive form: what both eager and SDPA attention take as a ready-made mask.
        additive = torch.zeros(sees.shape, dtype=dtype, device=self.device).masked_fill(
            ~sees, torch.finfo(dtype).min
        )
        ids = torch.tensor(fed, device=self.device).expand(n_prompts, width)
        positions = lengths[:, None] + offset[None, :]
        out = self.model.get_decoder()(
            input_ids=ids, attention_mask=additive, position_ids=positions, cache=cache
        )
        picked = self._token_logprobs(
            out.last_hidden_state.reshape(n_prompts * width, -1),
            torch.tensor(targets, device=self.device).repeat(n_prompts),
        ).view(n_prompts, width)
        # Sum each option's token log-probabilities into its column.
        sums = torch.zeros(n_prompts, len(options), device=self.device, dtype=picked.dtype)
        return sums.index_add_(1, owner, picked)

    def sequence_nll(
        self, prefixes: Sequence[list[int]], targets: Sequence[list[int]]
    ) -> np.ndarray:
        """Mean negative log-likelihood per token of each target after its prefix."""
        counts = np.array([len(t) for t in targets], dtype=np.float64)
        return -self.sequence_logprobs(prefixes, targets) / counts

    @torch.inference_mode()
    def sequence_logprobs(
        self, prefixes: Sequence[list[int]], targets: Sequence[list[int]]
    ) -> np.ndarray:
        """Sum of the log-probabilities of each target's tokens after its prefix."""
        result = np.zeros(len(targets), dtype=np.float64)
        order = sorted(range(len(targets)), key=lambda i: -(len(prefixes[i]) + len(targets[i])))
        for begin in range(0, len(order), self.batch_size):
            chunk = order[begin : begin + self.batch_size]
            ids, mask = self._padded([prefixes[i] + targets[i] for i in chunk])
            hidden = self.model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
            # The token at position t is predicted by the hidden state at t - 1: select exactly
            # the positions before each target token, in row order.
            scored = torch.zeros_like(mask, dtype=torch.bool)
            wanted: list[int] = []
            for row, i in enumerate(chunk):
                offset = len(prefixes[i])
                scored[row, offset - 1 : offset - 1 + len(targets[i])] = True
                wanted += targets[i]
            picked = self._token_logprobs(hidden[scored], torch.tensor(wanted, device=self.device))
            rows = torch.arange(len(chunk), device=self.device)[:, None].expand_as(scored)
            sums = torch.zeros(len(chunk), device=self.device, dtype=picked.dtype)
            sums.index_add_(0, rows[scored], picked)
            result[chunk] = sums.double().cpu().numpy()
        return result

    def _token_logprobs(self, hidden: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """(rows,) log-probability of `tokens[r]` after hidden state `hidden[r]`."""
        return torch.cat([
            logprobs.gather(1, tokens[begin : begin + len(logprobs), None]).squeeze(1)
            for begin, logprobs in self._logprobs(hidden)
        ])  # fmt: skip

    def _column_logprobs(self, hidden: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """(rows, columns) log-probability of each of `columns` after each hidden state."""
        return torch.cat([logprobs[:, columns] for _, logprobs in self._logprobs(hidden)])

    def _logprobs(self, hidden: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
        """Float32 next-token log-probabilities of `hidden` (rows, hidden size), HEAD_ROWS rows
        at a time, each chunk with the index of its first row.

        log_softmax rather than `logits - logsumexp`: on CPU the latter runs about 7e-6 per token
        below it in float32, which a ten-token option would sum past the scores' tolerance.
        """
        head = self.model.get_output_embeddings()
        softcap = getattr(self.model.config, "final_logit_softcapping", None)
        for begin in range(0, len(hidden), HEAD_ROWS):
            logits = head(hidden[begin : begin + HEAD_ROWS]).float()
            if softcap:  # Gemma-style models squash logits in their own forward; so do we
                logits = torch.tanh(logits / softcap) * softcap
            yield begin, torch.log_softmax(logits, dim=-1)

    def _padded(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = 1
        return ids.to(self.device), mask.to(self.device)
