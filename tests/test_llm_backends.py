"""The LLM backends with the bundled SmolLM2, locally and behind an OpenAI-compatible HTTP API."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from curator.algorithms.prompts import classification_messages
from workers.inference.llm import OpenAICompatibleLLM, get_llm

LABELS = ["Negative", "Positive"]


@pytest.fixture(scope="module")
def llm():
    return get_llm()


def test_bundled_llm_loads_from_its_cached_safetensors_copy(llm, settings):
    assert llm.identity == "HuggingFaceTB/SmolLM2-135M-Instruct@Q4_1"
    cached = list(
        settings.CURATOR_MODEL_CACHE.glob("SmolLM2-135M-Instruct.Q4_1-*/model.safetensors")
    )
    assert cached, "the GGUF was not converted to a cached safetensors copy"


def test_label_scores_prefer_the_right_sentiment_on_clear_cases(llm):
    texts = ["a gorgeous, witty, moving film; i loved every minute.",
             "a tedious, ugly mess. the worst film of the year."]  # fmt: skip
    scores = llm.option_logprobs([classification_messages(t, label_names=LABELS) for t in texts],
                                 LABELS)  # fmt: skip
    assert scores.shape == (2, 2)
    assert (scores < 0).all()
    # The negative review gets relatively more negative mass than the positive one.
    assert scores[1, 0] - scores[1, 1] > scores[0, 0] - scores[0, 1]


def test_single_token_fast_path_matches_the_general_scorer(llm):
    messages = [classification_messages("it 's slow -- very , very slow .", label_names=LABELS)]
    fast = llm.option_logprobs(messages, LABELS)
    # Two-token options take the general path; their first tokens are the same labels.
    general = llm.option_logprobs(messages, [f"{label}." for label in LABELS])
    assert fast.shape == general.shape
    assert np.all(general <= fast + 1e-6)  # adding a token can only lower the likelihood


def test_generation_replies_in_text(llm):
    reply = llm.generate([[{"role": "user", "content": "Say the word hello."}]], max_new_tokens=8)
    assert isinstance(reply[0], str) and reply[0]


class OpenAICompatibleServer(BaseHTTPRequestHandler):
    """A minimal chat-completions endpoint serving the bundled model, as vLLM would."""

    model = None

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        llm = self.model
        if body.get("logprobs"):
            ids = llm.tokenizer(llm.render(body["messages"]), return_tensors="pt").input_ids
            with torch.inference_mode():
                logits = llm.model(input_ids=ids).logits[0, -1].float()
            values, tokens = torch.log_softmax(logits, -1).topk(body["top_logprobs"])
            top = [{"token": llm.tokenizer.decode([t]), "logprob": v.item()}
                   for v, t in zip(values, tokens, strict=True)]  # fmt: skip
            choice = {"message": {"content": top[0]["token"]},
                      "logprobs": {"content": [{"top_logprobs": top}]}}  # fmt: skip
        else:
            text = llm.generate([body["messages"]], max_new_tokens=body["max_tokens"])[0]
            choice = {"message": {"content": text}}
        payload = json.dumps({"choices": [choice]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def test_openai_compatible_backend_scores_like_the_local_model(llm):
    OpenAICompatibleServer.model = llm
    server = ThreadingHTTPServer(("127.0.0.1", 0), OpenAICompatibleServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        remote = OpenAICompatibleLLM(f"http://127.0.0.1:{server.server_port}/v1", "smollm2")
        messages = [classification_messages(t, label_names=LABELS)
                    for t in ("a joyous, tender film.", "dull, dull, dull.")]  # fmt: skip
        assert remote.option_logprobs(messages, LABELS) == pytest.approx(
            llm.option_logprobs(messages, LABELS), abs=1e-3
        )
        assert remote.generate(messages[:1], max_new_tokens=4)[0]
    finally:
        server.shutdown()
