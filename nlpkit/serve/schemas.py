"""Request bodies of every endpoint, as pydantic models (they make the OpenAPI page too).

The task endpoints refuse unknown keys (a typo is an error, not a silent default); the
OpenAI-compatible ones ignore what they do not use, as clients send many optional keys.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClassifyRequest(Strict):
    texts: list[str] = Field(description="Texts to label.")
    top_k: int = Field(1, ge=1, description="Labels to return per text, best first.")


class SummarizeRequest(Strict):
    texts: list[str]
    max_new_tokens: int | None = Field(None, description="Unset: the model's own setting.")


class TranslateRequest(Strict):
    texts: list[str]
    src: str = Field("en", description="Source language (ISO 639-1).")
    tgt: str = Field("de", description="Target language (ISO 639-1).")
    max_new_tokens: int | None = None


class GenerateRequest(Strict):
    prompts: list[str]
    max_new_tokens: int = 50
    temperature: float | None = Field(None, gt=0, description="Any sampling option samples.")
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1)
    chat: bool | None = Field(None, description="None: the chat template when there is one.")
    system: str | None = None
    stream: bool = Field(False, description="Server-sent events, one prompt only.")


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
