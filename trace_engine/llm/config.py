"""Validated configuration of :func:`trace_engine.llm.get_llm` (pydantic)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trace_engine.llm.errors import SpecError

ACCEPTED_FORMS = (
    "local",
    "openai:MODEL (or openai/MODEL)",
    "openai-compatible:URL#MODEL",
    "litellm:PROVIDER/MODEL",
    "llamacpp:PATH.gguf",
    "transformers:PATH_OR_ID",
)
KINDS = ("openai", "openai-compatible", "litellm", "llamacpp", "transformers")
_LOCAL_SERVERS = {"ollama": "http://localhost:11434/v1", "lm_studio": "http://localhost:1234/v1"}

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _default_n_ctx() -> int:
    raw = os.environ.get("TRACE_ENGINE_N_CTX")
    if not raw:
        return 8192
    try:
        return int(raw)
    except ValueError:
        raise SpecError(f"TRACE_ENGINE_N_CTX must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class ParsedSpec:
    """A spec split into its kind (``local``, ``openai``, ...) and target."""

    kind: str
    target: str = ""
    url: str = ""
    key_env: str = ""
    """The environment variable holding the server's API key (``?key_env=VAR``)."""
    price: tuple[float, float] | None = None
    """USD per 1M input and output tokens (``?price=IN,OUT``)."""
    max_concurrency: int | None = None
    """Requests in flight at once (``?max_concurrency=N``); ``None``: the configured one."""


def spec_error(spec: str, why: str) -> SpecError:
    return SpecError(
        f"bad LLM spec {spec!r}: {why}. Accepted forms: {' | '.join(ACCEPTED_FORMS)} "
        "(pass it to get_llm, --llm, or the TRACE_ENGINE_LLM environment variable)"
    )


def parse_spec(spec: str) -> ParsedSpec:
    """Split and check a spec string; raises :class:`SpecError` listing the accepted forms.

    A LiteLLM-style ``provider/model`` is accepted for OpenAI (``openai/gpt-4o-mini``);
    for another provider the error names the spec to use instead.
    """
    text = spec.strip()
    if text == "local":
        return ParsedSpec("local")
    slash, colon = text.find("/"), text.find(":")
    if slash > 0 and (colon < 0 or slash < colon):
        return _provider_model(spec, text[:slash], text[slash + 1 :].strip())
    kind, sep, rest = text.partition(":")
    rest = rest.strip()
    if not sep or kind not in KINDS:
        return _raise(spec, _unknown_backend_hint(text))
    if kind == "litellm" and "/" not in rest.strip("/"):
        return _raise(
            spec,
            "litellm needs PROVIDER/MODEL after the colon, e.g. litellm:anthropic/claude-3-5-haiku-latest",
        )
    if not rest:
        return _raise(
            spec, f"{kind}: needs a {'path' if kind == 'llamacpp' else 'model'} after the colon"
        )
    if kind == "openai-compatible":
        url, hash_, model = rest.rpartition("#")
        if not hash_ or not url or not model:
            return _raise(
                spec, "openai-compatible needs URL#MODEL, e.g. http://localhost:8000/v1#qwen"
            )
        if not url.startswith(("http://", "https://")):
            return _raise(spec, f"the URL {url!r} must start with http:// or https://")
        model, _, options = model.partition("?")
        return ParsedSpec(kind, model, url, *_model_options(spec, options))
    if kind == "llamacpp":
        path = Path(rest).expanduser()
        if path.suffix.lower() != ".gguf":
            return _raise(spec, "llamacpp needs the path of a .gguf file")
        if not path.is_file():
            return _raise(spec, f"the file {path} does not exist")
        return ParsedSpec(kind, str(path))
    return ParsedSpec(kind, rest)


def _provider_model(spec: str, provider: str, model: str) -> ParsedSpec:
    """``openai/MODEL`` is ``openai:MODEL``; any other ``provider/model`` gets a suggestion."""
    if not model:
        return _raise(spec, f"{provider}/ needs a model name after the slash")
    if provider == "openai":
        return ParsedSpec("openai", model)
    if provider in _LOCAL_SERVERS:
        return _raise(
            spec,
            f"for a model served by {provider} use openai-compatible:"
            f"{_LOCAL_SERVERS[provider]}#{model} (or litellm:{provider}/{model})",
        )
    return _raise(
        spec,
        f"provider/model names reach providers other than OpenAI through LiteLLM: use "
        f"litellm:{provider}/{model} (pip install 'trace-engine[litellm]')",
    )


def _unknown_backend_hint(text: str) -> str:
    """The reason for an unknown backend, with the likely spec when the text is a bare model."""
    from trace_engine.llm.pricing import PRICES

    if ":" not in text and (text in PRICES or text.startswith(("gpt-", "o1", "o3", "o4"))):
        return f"unknown backend; for OpenAI's model write openai:{text}"
    return "unknown backend"


def _model_options(spec: str, options: str) -> tuple[str, tuple[float, float] | None, int | None]:
    """``key_env=VAR`` (the variable holding the server's API key), ``price=IN,OUT``
    (USD per 1M input and output tokens) and ``max_concurrency=N`` (requests in
    flight at once), joined by ``&`` after the model."""
    key_env, price, concurrency = "", None, None
    for item in options.split("&") if options else ():
        name, eq, value = item.partition("=")
        if name == "key_env" and eq and _ENV_NAME.fullmatch(value):
            key_env = value
        elif name == "price" and eq and _price(value) is not None:
            price = _price(value)
        elif name == "max_concurrency" and eq and value.isdigit() and int(value) >= 1:
            concurrency = int(value)
        else:
            _raise(
                spec,
                "after the model only ?key_env=VAR (the environment variable holding the "
                "server's API key), ?price=IN,OUT (USD per 1M input and output tokens) and "
                "?max_concurrency=N (requests in flight at once, N >= 1) may follow, "
                f"joined by &; got ?{options}",
            )
    return key_env, price, concurrency


def _price(text: str) -> tuple[float, float] | None:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        return None
    if len(values) != 2 or not all(0 <= v < float("inf") for v in values):
        return None
    return values


def _raise(spec: str, why: str) -> ParsedSpec:
    raise spec_error(spec, why)


class LLMConfig(BaseModel):
    """Everything that decides which backend :func:`get_llm` builds and how it is wrapped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: str = "local"
    cache: bool = True
    cache_dir: str | None = None
    retries: int = Field(4, ge=1, description="attempts per call, the first included")
    min_wait: float = Field(0.5, ge=0)
    max_wait: float = Field(30.0, gt=0)
    timeout: float = Field(120.0, gt=0, description="seconds per HTTP request")
    n_ctx: int = Field(default_factory=_default_n_ctx, ge=256)
    n_gpu_layers: int | None = None
    api_key: str | None = None
    base_url: str | None = None
    max_batch: int = Field(8, ge=1)
    max_concurrency: int = Field(8, ge=1, description="requests in flight at once (HTTP)")
    device: str | None = Field(None, description="transformers: cuda, cuda:1, cpu, ...")

    @field_validator("spec")
    @classmethod
    def _check_spec(cls, value: str) -> str:
        parse_spec(value)
        return value.strip()


def make_config(**values) -> LLMConfig:
    """Build an :class:`LLMConfig`, turning validation errors into :class:`SpecError`."""
    try:
        return LLMConfig(**values)
    except ValidationError as exc:
        for err in exc.errors():
            cause = err.get("ctx", {}).get("error")
            if isinstance(cause, SpecError):
                raise cause from None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise SpecError(f"invalid LLM configuration: {problems}") from None
