"""Fill-in-the-middle prompts written in a code model's own tokens, split back into prefix and suffix.

Editors build these for code models and send them to `/v1/completions` as one `prompt`: Zed's
`open_ai_compatible_api` edit predictions (`prompt_format`) and Continue's autocomplete (a template
chosen by model name, DeepSeek's for `deepseek/…`). Command Code's chat models do not read those tokens,
so ccgw recognises the common templates and asks for the middle in words instead. Text before the first
marker (file names, snippets of other files) stays in front of the prefix.
"""

from __future__ import annotations

import re

_TEMPLATES = [
    re.compile(rf"^(?P<head>.*?){p}(?P<prefix>.*){s}(?P<suffix>.*){m}\s*$", re.DOTALL)
    for p, s, m in (
        ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),  # DeepSeek Coder
        (r"<\|fim_prefix\|>", r"<\|fim_suffix\|>", r"<\|fim_middle\|>"),  # Qwen, CodeGemma
        ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),  # StarCoder (Zed's default)
        (r"<\|code_prefix\|>", r"<\|code_suffix\|>", r"<\|code_middle\|>"),  # GLM
        ("<PRE> ", " <SUF>", " <MID>"),  # Code Llama
    )
]
_CODESTRAL = re.compile(r"^(?P<head>.*?)\[SUFFIX\](?P<suffix>.*)\[PREFIX\](?P<prefix>.*)$", re.DOTALL)


def split(prompt: str) -> tuple[str, str] | None:
    """(prefix, suffix) when `prompt` is a fill-in-the-middle template, else None."""
    for template in (*_TEMPLATES, _CODESTRAL):
        match = template.match(prompt)
        if match:
            return match["head"] + match["prefix"], match["suffix"]
    return None
