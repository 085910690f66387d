"""Chat-template and role leaks: control tokens or turn markers of any common chat format in text.

Families: ChatML (`<|im_start|>`, `<|im_end|>`), Llama-3 (`<|start_header_id|>`, `<|eot_id|>`),
Llama-2/Mistral (`[INST]`, `<<SYS>>`, `</s>`), Gemma (`<start_of_turn>`, `<end_of_turn>`), Phi-3
(`<|user|>`, `<|end|>`), DeepSeek (`<｜User｜>`), any other `<|name|>` token, Alpaca/Vicuna headers
(`### Response:`, `### Instruction:`), and role turns the model wrote itself: a line opening with
"User:", "Human:", "Assistant:" ... after the text has started, or a bare role name ("assistant")
as the first line. A marker that also appears in the instruction is not a leak (the user asked
about it), and role lines are allowed when the instruction asks for a dialogue, script or chat.
"""

from __future__ import annotations

import re

_TOKENS = re.compile(
    r"<\|[A-Za-z_][\w.\-]{0,40}\|>"  # <|im_end|>, <|eot_id|>, <|user|>, <|endoftext|> ...
    r"|<｜[^｜\n]{1,40}｜>"  # DeepSeek <｜User｜>
    r"|\[/?INST\]|<</?SYS>>"  # Llama-2 / Mistral
    r"|</?(?:start_of_turn|end_of_turn|eot)>"  # Gemma
    r"|<\|?(?:endoftext|end_of_text|begin_of_text)\|?>",
    re.IGNORECASE,
)
_HTML_LIKE = re.compile(r"</s>|<s>(?=\s*\[)|<(?:bos|eos|pad|unk)>", re.IGNORECASE)  # only outside code
_ROLES = r"(?:user|human|assistant|ai|gpt|bot|chatbot|system|model|instruction|response|input|output|prompter)"
_HEADER = re.compile(rf"^\s*#{{2,4}}\s*{_ROLES}\s*:?\s*$|^\s*#{{2,4}}\s*{_ROLES}\s*:", re.IGNORECASE | re.MULTILINE)
_ROLE_LINE = re.compile(
    r"^[ \t]*(?:\*\*)?(?:<?(?:user|human|assistant|gpt|chatbot|system|prompter)>?|USER|ASSISTANT)(?:\*\*)?[ \t]*:"
    r"(?:\*\*)?",
    re.IGNORECASE | re.MULTILINE,
)
_BARE_ROLE_FIRST = re.compile(r"^\s*(?:user|assistant|system|model|human|gpt)\s*\n", re.IGNORECASE)
_DIALOGUE_ASK = re.compile(
    r"\b(?:dialog(?:ue)?s?|conversations?|chat(?:s|bot|log)?|scripts?|transcripts?|role[- ]?play|interview|"
    r"exchange|scene|screenplay|skit|example prompts?|few[- ]shot|chat template|prompt format)\b",
    re.IGNORECASE,
)
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]+`", re.DOTALL)


def template_leak(text: str, instruction: str = "") -> str | None:
    """'<marker> at char N' for the first leaked marker in text, else None."""
    asked = instruction.lower()
    for m in _TOKENS.finditer(text):
        if m.group(0).lower() not in asked:
            return f"control token {m.group(0)!r} at char {m.start()}"
    prose = _CODE.sub(lambda m: " " * len(m.group(0)), text)
    if (m := _HTML_LIKE.search(prose)) and m.group(0).lower() not in asked:
        return f"control token {m.group(0)!r} at char {m.start()}"
    if m := _BARE_ROLE_FIRST.match(prose):
        return f"bare role name {m.group(0).strip()!r} as the first line"
    for m in _HEADER.finditer(prose):
        if m.group(0).strip().lower() not in asked:
            return f"prompt-format header {m.group(0).strip()!r} at char {m.start()}"
    if _DIALOGUE_ASK.search(instruction):
        return None
    if m := _ROLE_LINE.search(prose):
        return f"role turn {m.group(0).strip()!r} at char {m.start()}"
    return None
