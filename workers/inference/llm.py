"""LLM backends: a local transformers causal LM (id, path or GGUF) or an OpenAI-compatible server.

Both answer two questions in batches: "what does the model write after these messages?"
(`generate`) and "how likely is each of these answers?" (`option_logprobs`). Scoring answers by
log-likelihood is what makes a small model usable as a labeler: it can only ever pick a valid
label, and the scores can be calibrated.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import requests
import torch
from django.conf import settings
from transformers import AutoModelForCausalLM, AutoTokenizer

from curator.algorithms.prompts import Messages
from workers.inference.device import placement
from workers.inference.llm_scoring import TokenScorer
from workers.inference.sources import model_identity, resolve

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Adapter:
    """A PEFT LoRA adapter to run over the base model: a promoted model version."""

    path: str  # the saved adapter folder
    label: str  # what identities carry, e.g. "v3@abcd1234" (version and adapter sha256)
    served_name: str  # its model name on an OpenAI-compatible server (vLLM --lora-modules)


class LLM(Hashable, Protocol):
    """Hashable: scorers built on an LLM are cached per instance."""

    identity: str

    def generate(
        self, prompts: Sequence[Messages], *, max_new_tokens: int = 128, temperature: float = 0.0
    ) -> list[str]:
        """The assistant's reply to each conversation."""
        ...

    def option_logprobs(self, prompts: Sequence[Messages], options: Sequence[str]) -> np.ndarray:
        """(len(prompts), len(options)) log-probability of each option as the assistant's reply."""
        ...


@runtime_checkable
class ScoringLLM(LLM, Protocol):
    """An LLM that can score given text token by token (local weights; a chat server cannot)."""

    def response_nll(
        self, prompts: Sequence[Messages] | None, responses: Sequence[str], max_tokens: int = 256
    ) -> np.ndarray:
        """Mean negative log-likelihood per token of each response."""
        ...


def scoring_llm(llm: LLM) -> ScoringLLM:
    """`llm` if it can score text, else a clear error for the job that needed it."""
    if not isinstance(llm, ScoringLLM):
        raise ValueError(
            f"{llm.identity} cannot score text (no token log-likelihoods from a chat server); "
            "perplexity and IFD need a local model"
        )
    return llm


def materialise_gguf(gguf: Path, cache_root: Path) -> Path:
    """Dequantise a GGUF file once into a safetensors folder and return that folder.

    Loading GGUF through transformers dequantises every tensor (~18 s for SmolLM2-135M); the
    safetensors copy loads in about a second. Written to a temporary folder and renamed, so
    concurrent workers never see half a copy.
    """
    target = cache_root / f"{gguf.stem}-{gguf.stat().st_size}"
    if (target / "config.json").exists():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    logger.info("converting %s to safetensors in %s (once)", gguf, target)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are dequantised already; drop the GGUF marker so transformers saves them.
    # transformers types unknown attributes through nn.Module.__getattr__ (Tensor | Module).
    model.hf_quantizer = None  # type: ignore[assignment]
    model.is_quantized = False  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = Path(tempfile.mkdtemp(dir=cache_root, prefix=".staging-"))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    try:
        os.rename(staging, target)
    except OSError:  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


class TransformersLLM:
    def __init__(self, spec: str, device: str = "auto", adapter: Adapter | None = None) -> None:
        source = resolve(spec)
        if str(source).endswith(".gguf"):
            source = materialise_gguf(Path(source), Path(settings.CURATOR_MODEL_CACHE))
        self.place = placement(device, cpu_batch=16, gpu_batch=128)
        self.tokenizer = AutoTokenizer.from_pretrained(str(source))
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(str(source), dtype=self.place.dtype)
        self.identity = model_identity(spec)
        if adapter is not None:
            from peft import PeftModel

            # Merged into the base weights: inference then costs what the base model costs.
            self.model = PeftModel.from_pretrained(self.model, adapter.path).merge_and_unload()
            self.identity = f"{self.identity}+{adapter.label}"
        # transformers' `to` decorator hides its signature from the stubs (self appears twice).
        self.model.to(self.place.device).eval()  # type: ignore[arg-type]
        logger.info("loaded LLM %s on %s (%s)", self.identity, self.place.device, self.place.dtype)

    def render(self, messages: Messages) -> str:
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        if not isinstance(text, str):  # tokenize=False renders text; anything else is a bug
            raise TypeError(f"chat template rendered {type(text).__name__}, not text")
        return text

    @property
    def scorer(self) -> TokenScorer:
        # Built per call: the batch size follows `place`, which benchmarks change.
        return TokenScorer(self.model, self.tokenizer.pad_token_id, self.place.batch_size)

    def option_logprobs(self, prompts: Sequence[Messages], options: Sequence[str]) -> np.ndarray:
        tok = self.tokenizer
        prompt_ids = [tok(self.render(m), add_special_tokens=False).input_ids for m in prompts]
        option_ids = [tok(option, add_special_tokens=False).input_ids for option in options]
        return self.scorer.option_logprobs(prompt_ids, option_ids)

    def response_nll(
        self, prompts: Sequence[Messages] | None, responses: Sequence[str], max_tokens: int = 256
    ) -> np.ndarray:
        """Mean negative log-likelihood per token of each response: as the assistant's reply to
        `prompts`, or as plain text (after the end-of-text token) when `prompts` is None.

        exp() of it is the perplexity; the ratio conditional / plain is the instruction-following
        difficulty (IFD) of an instruction-response pair.
        """
        tok = self.tokenizer
        start = [tok.eos_token_id]
        prefixes = (
            [tok(self.render(m), add_special_tokens=False).input_ids for m in prompts]
            if prompts is not None
            else [start] * len(responses)
        )
        targets = [
            tok(text, add_special_tokens=False).input_ids[:max_tokens] or start
            for text in responses
        ]
        return self.scorer.sequence_nll(prefixes, targets)

    @torch.inference_mode()
    def generate(
        self, prompts: Sequence[Messages], *, max_new_tokens: int = 128, temperature: float = 0.0
    ) -> list[str]:
        tok = self.tokenizer
        tok.padding_side = "left"
        replies: list[str] = []
        for start in range(0, len(prompts), self.place.batch_size):
            batch = [self.render(m) for m in prompts[start : start + self.place.batch_size]]
            encoded = tok(batch, return_tensors="pt", padding=True, add_special_tokens=False)
            output = self.model.generate(
                **encoded.to(self.place.device),
                max_new_tokens=max_new_tokens,
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                top_p=None,
                top_k=None,
                pad_token_id=tok.pad_token_id,
            )
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            replies += [
                text.strip() for text in tok.batch_decode(new_tokens, skip_special_tokens=True)
            ]
        return replies


class OpenAICompatibleLLM:
    """Any server speaking the OpenAI chat completions API: vLLM, TGI, llama.cpp, Ollama."""

    TOP_LOGPROBS = 20

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 120) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout
        self.identity = f"{model}@{self.base_url}"
        self.concurrency = 8

    def _chat(self, messages: Messages, **extra: Any) -> dict:
        response = self.session.post(
            f"{self.base_url}/chat/completions",
            json={"model": self.model, "messages": messages, **extra},
            timeout=self.timeout,
        )
        response.raise_for_status()
        return response.json()["choices"][0]

    def generate(
        self, prompts: Sequence[Messages], *, max_new_tokens: int = 128, temperature: float = 0.0
    ) -> list[str]:
        def one(messages: Messages) -> str:
            choice = self._chat(messages, max_tokens=max_new_tokens, temperature=temperature)
            return (choice["message"]["content"] or "").strip()

        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(one, prompts))

    def option_logprobs(self, prompts: Sequence[Messages], options: Sequence[str]) -> np.ndarray:
        """First-token log-probabilities from the server's top alternatives.

        Servers return log-probabilities of generated tokens only, so an option is scored by
        the best first token that starts it; an option outside the top alternatives gets a
        floor below the least likely one returned.
        """

        def one(messages: Messages) -> list[float]:
            choice = self._chat(
                messages, max_tokens=1, temperature=0, logprobs=True,
                top_logprobs=self.TOP_LOGPROBS,
            )  # fmt: skip
            top = choice["logprobs"]["content"][0]["top_logprobs"]
            floor = min(entry["logprob"] for entry in top) - 5.0
            scores = []
            for option in options:
                matching = [
                    entry["logprob"]
                    for entry in top
                    if entry["token"].strip()
                    and option.strip().lower().startswith(entry["token"].strip().lower())
                ]
                scores.append(max(matching) if matching else floor)
            return scores

        with ThreadPoolExecutor(self.concurrency) as pool:
            return np.array(list(pool.map(one, prompts)), dtype=np.float64)


def get_llm(spec: str | None = None, adapter: Adapter | None = None) -> LLM:
    """The process-wide LLM: the OpenAI-compatible server when CURATOR_LLM_BASE_URL is set.

    With an adapter, locally the base model with the adapter merged in; on a server the request
    names the adapter's served name, which the server must serve (vLLM: `--enable-lora
    --lora-modules <served_name>=<adapter folder>`).
    """
    spec = spec or settings.CURATOR_LLM_MODEL
    if settings.CURATOR_LLM_BASE_URL:
        return _remote_llm(
            settings.CURATOR_LLM_BASE_URL, spec, settings.CURATOR_LLM_API_KEY, adapter
        )
    return _local_llm(spec, settings.CURATOR_DEVICE, adapter)


@functools.cache
def _local_llm(spec: str, device: str, adapter: Adapter | None = None) -> LLM:
    return TransformersLLM(spec, device, adapter)


@functools.cache
def _remote_llm(base_url: str, model: str, api_key: str, adapter: Adapter | None = None) -> LLM:
    if adapter is None:
        return OpenAICompatibleLLM(base_url, model, api_key)
    llm = OpenAICompatibleLLM(base_url, adapter.served_name, api_key)
    llm.identity = f"{model_identity(model)}+{adapter.label}@{llm.base_url}"
    return llm
