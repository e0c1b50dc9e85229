"""Request bodies as pydantic models (they make the OpenAPI page too): the base of the
task endpoints' bodies (each task's ``serving.py`` declares its own), and the
OpenAI-compatible endpoints' bodies.

The task endpoints refuse unknown keys (a typo is an error, not a silent default); the
OpenAI-compatible ones ignore what they do not use, as clients send many optional keys.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(Loose):
    type: Literal["text"] = "text"
    text: str


class ChatMessage(Loose):
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[TextPart] = ""

    def plain(self) -> dict[str, str]:
        """The message as a chat template takes it (``developer`` is OpenAI's ``system``)."""
        text = (
            self.content
            if isinstance(self.content, str)
            else "".join(part.text for part in self.content)
        )
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class StreamOptions(Loose):
    include_usage: bool = False


class OpenAIOptions(Loose):
    """Options that /v1/chat/completions and /v1/completions share."""

    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: int = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: bool | int | None = None  # a flag in chat, a count in completions
    top_logprobs: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None


class ChatRequest(OpenAIOptions):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = None


class CompletionRequest(OpenAIOptions):
    prompt: str | list[str]
