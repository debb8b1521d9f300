"""Every prompt text is pinned: benchmark figures stay comparable across refactors."""

import hashlib

from optimizers import DEFAULT_TITLES, OPRO, OptoPrime, TextGrad, prompts
from optimizers.prompts import Approach
from trace_engine import node

PINNED = {
    # the texts as the figures in benchmarks/RESULTS.md were measured (VERSION 1)
    "SYSTEM_PROMPT": "6cf1314ed3f8c04c",
    "JSON_REPLY_FORMAT": "a092a100d716061e",
    "CODE_INLINE": "6f3a197c0cebbe34",
    "CODE_LATER": "3c48cd22a548be16",
    "DEFAULT_OBJECTIVE": "d2e94a4cdcbd2c66",
    "MEMORY_TITLE": "59c1272b390c0ff2",
    "WORK_BACKWARD.advice": "35bbf0a29699702f",
    "WORK_BACKWARD.example": "98e264e685610f42",
    "SOLVE_DIRECTLY.advice": "c0c52937b7b9b0ab",
    "SOLVE_DIRECTLY.example": "964c909f896d0063",
    "OPRO_TASK": "dd02cd17cad785cd",
    "OPRO_JSON_REPLY": "88f572ee25fa1ddb",
    "OPRO_CODE_INLINE": "4a6c0fca2a1722b9",
    "OPRO_SYSTEM_PROMPT": "8c616fc7176486ce",
    "GRADIENT_PROMPT": "38638c90b364bc62",
    "UPDATE_TASK": "5cb9e8bef30fb15a",
    "UPDATE_PROMPT": "30d8a8d7e4b087ed",
    "TEXTGRAD_MEMORY_TITLE": "514e26a91dafc824",
    "CODE_REPLY_FORMAT": "f818166359bd5065",
    "ONE_FUNCTION": "2eb863b0de8fba1d",
    "SEVERAL_FUNCTIONS": "0500e9c52994f6be",
    "CHOSEN_TITLE": "8b6652470c40140f",
    "DRAFT_SYSTEM_PROMPT": "f836aa2773d40af0",
    "JUDGE_PROMPT": "c755bdd5664d94ac",
    # ArchiveSearch's merge of two elites (new in VERSION 1, no figures measured yet)
    "MERGE_TASK": "dded1f4fb63340d2",
    "MERGE_JSON_REPLY": "6be16074fb31af6c",
    "MERGE_VERSION": "1b1f6e5dcaab957f",
    "MERGE_FEEDBACK": "69d229ba2a80d74b",
}


def _texts() -> dict[str, str]:
    found = {}
    for name in dir(prompts):
        value = getattr(prompts, name)
        if not name.isupper() or name == "VERSION":
            continue
        if isinstance(value, Approach):
            found[f"{name}.advice"], found[f"{name}.example"] = value.advice, value.example
        elif isinstance(value, tuple):
            found[name] = "|".join(value)
        else:
            found[name] = value
    return found


def test_every_prompt_text_is_pinned_byte_for_byte():
    texts = _texts()
    assert set(texts) == set(PINNED), "pin each new prompt text here (and bump VERSION)"
    changed = {
        name
        for name, text in texts.items()
        if hashlib.sha256(text.encode()).hexdigest()[:16] != PINNED[name]
    }
    assert not changed, f"prompt texts changed: {sorted(changed)}; bump prompts.VERSION"
    assert prompts.VERSION == 1


def test_optimizers_send_the_texts_of_the_prompts_module(scripted, suggest_reply):
    x = node(1, trainable=True, name="pinned_x")
    sent = {}
    for cls in (OptoPrime, OPRO, TextGrad):
        llm = scripted('{"x": "more"}' if cls is TextGrad else suggest_reply(pinned_x=2))
        opt = cls([x], llm)
        opt.backward(x * 2, "too small")
        opt.step()
        sent[cls] = [m[0]["content"] for m in llm.prompts]
    assert sent[OptoPrime][0].startswith(prompts.SYSTEM_PROMPT.format(**DEFAULT_TITLES))
    assert sent[OPRO][0] == prompts.OPRO_SYSTEM_PROMPT
    assert sent[TextGrad][0] == prompts.GRADIENT_PROMPT
