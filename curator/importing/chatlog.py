"""Logged chat-completion calls (JSONL, one call per line) as records to curate.

A line is `{"request": {"messages": [...]}, "response": {"choices": [{"message": {...}}]}}`, the
OpenAI request/response shape most gateways log. Correction projects get one record per call
(prompt = the conversation, draft = the logged answer); pairwise projects get one record per two
different logged answers to the same request messages (response_a / response_b). No Django here.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from curator.importing.parsers import ImportFormatError, ParsedRow, json_lines

ROLES = ("system", "user", "assistant", "tool", "developer")


def looks_like_chatlog(first_line: bytes) -> bool:
    """Whether a JSONL file's first line is a logged call (auto-detection of the format)."""
    try:
        obj = json.loads(first_line.decode("utf-8-sig"))
    except ValueError:
        return False
    return isinstance(obj, dict) and "request" in obj and "response" in obj


def render_conversation(messages: list[dict[str, str]]) -> str:
    """The conversation as one prompt text: a lone user turn as is, otherwise each turn under
    its role, so annotators read the whole context."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def _content(value: Any) -> str | None:
    """Message content as text: a string, or the text parts of a list of content parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [p.get("text") for p in value if isinstance(p, dict) and p.get("type") == "text"]
        texts = [p for p in parts if isinstance(p, str)]
        if texts and len(texts) == len(parts):
            return "".join(texts)
    return None


def _messages(request: Any) -> list[dict[str, str]]:
    if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
        raise ValueError("request.messages must be a list of messages")
    messages = []
    for index, message in enumerate(request["messages"]):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ValueError(f"request.messages[{index}] needs a role ({', '.join(ROLES)})")
        content = _content(message.get("content"))
        if content is None:
            raise ValueError(f"request.messages[{index}].content must be text")
        messages.append({"role": message["role"], "content": content})
    if not messages or not any(m["role"] == "user" for m in messages):
        raise ValueError("request.messages has no user message")
    return messages


def _answer(response: Any) -> tuple[str, str | None]:
    choices = response.get("choices") if isinstance(response, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("response.choices[0] is missing")
    message = choices[0].get("message")
    content = _content(message.get("content")) if isinstance(message, dict) else None
    if content is None or not content.strip():
        raise ValueError("response.choices[0].message.content is missing or empty")
    model = response.get("model")
    return content, model if isinstance(model, str) else None


def logged_calls(binary: IO[bytes] | Iterable[bytes]) -> Iterator[tuple[int, list[dict], str, Any]]:
    """(line, request messages, answer, model) of each logged call; ImportFormatError names the
    first bad line."""
    for number, obj in json_lines(binary):
        if not isinstance(obj, dict) or "request" not in obj or "response" not in obj:
            raise ImportFormatError(number, "a logged call needs 'request' and 'response'")
        try:
            messages = _messages(obj["request"])
            answer, model = _answer(obj["response"])
        except ValueError as error:
            raise ImportFormatError(number, str(error)) from None
        yield number, messages, answer, model


def correction_rows(binary: IO[bytes] | Iterable[bytes]) -> Iterator[ParsedRow]:
    """One record per call: the conversation to answer and the logged answer as the draft."""
    for number, messages, answer, model in logged_calls(binary):
        payload = {"prompt": render_conversation(messages), "messages": messages, "draft": answer}
        if model:
            payload["draft_model"] = model
        yield ParsedRow(line=number, payload=payload, label=None)


def pairwise_rows(binary: IO[bytes] | Iterable[bytes]) -> Iterator[ParsedRow]:
    """One record per two different answers to the same request messages: answers 1-2, 2-3, ...
    in file order. A conversation logged with a single distinct answer is an error: there is
    nothing to compare it with. Holds the answers in memory until the file is read."""
    groups: dict[str, list[tuple[int, str, Any]]] = {}
    conversations: dict[str, list[dict[str, str]]] = {}
    for number, messages, answer, model in logged_calls(binary):
        key = json.dumps(messages, sort_keys=True, ensure_ascii=False)
        conversations.setdefault(key, messages)
        answers = groups.setdefault(key, [])
        if all(answer != seen for _, seen, _ in answers):
            answers.append((number, answer, model))
    for key, answers in sorted(groups.items(), key=lambda item: item[1][0][0]):
        if len(answers) < 2:
            raise ImportFormatError(
                answers[0][0],
                "only one distinct logged answer to this conversation; a pairwise record "
                "needs two answers to the same request messages",
            )
        messages = conversations[key]
        for (line, a, model_a), (_, b, model_b) in itertools.pairwise(answers):
            payload: dict[str, Any] = {
                "prompt": render_conversation(messages),
                "messages": messages,
                "response_a": a,
                "response_b": b,
            }
            if model_a or model_b:
                payload.update({"model_a": model_a, "model_b": model_b})
            yield ParsedRow(line=line, payload=payload, label=None)
