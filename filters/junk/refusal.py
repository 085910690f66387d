"""Refusals and deflections in the opening sentences of a response.

Phrase lists miss most refusals ("I'm sorry for any confusion, but as a chatbot designed to assist
users, I don't have the capability to ..."), so this looks for the *structure* of one, in any
order and phrasing, within the first `max_sentences` sentences:

- an AI-identity disclaimer: "as an AI (language model)", "as a chatbot designed to ..., I",
  "I'm just a language model", "I don't have personal opinions / real-time access";
- a first-person inability: "I can't/cannot/couldn't" + an action verb ("help", "provide",
  "browse", "fulfill", ...), "I'm unable to", "I don't have the capability/ability to",
  "it's beyond my capabilities", "not something I can help with";
- an explicit decline: "I must decline", "I won't write", "I'm not comfortable providing",
  "against my guidelines".

Deflections answer without answering: "Could you please provide the text?", "I'm not sure what
you mean", "It seems your message is incomplete", "you haven't provided the code".

"Sorry to hear that. Here is what helps ..." has an apology but no inability, so it is kept; so is
"I can't stress enough how ..." (no action verb) and "As an AI researcher, you ..." (not about
the speaker).
"""

from __future__ import annotations

import re

from filters.junk.echo import request_part
from filters.junk.text import sentences, without_code

_A = "['’]"  # either apostrophe
_I = r"\bi(?:\s+(?:really|simply|unfortunately|currently|honestly|just|still|genuinely|truly|sadly))?"
_CANT = rf"(?:can{_A}?t|cannot|can not|could not|couldn{_A}?t|won{_A}?t|will not)"
_ACTION = (
    r"(?:help|assist|aid|provide|fulfill?|comply|complete|generate|create|write|produce|draft|compose|give|"
    r"offer|share|answer|respond|reply|access|browse|search|surf|retrieve|look up|open|view|see|read|display|"
    r"download|visit|check|verify|confirm|predict|guarantee|perform|execute|run|engage|participate|support|"
    r"endorse|condone|encourage|promote|facilitate|discuss|talk|make|tell|say|express|feel|experience|remember|"
    r"recall|know|process|translate|draw|play|sing|hear|watch|taste|smell|touch|book|order|send|call|"
    r"do (?:that|this|so|it|what)|go along|agree|comment|speculate|diagnose|prescribe|recommend specific)"
)
_ADVERBS = (
    r"(?:(?:actually|personally|directly|currently|really|physically|legally|ethically|in good conscience|"
    r"yet|possibly|fully|reliably|accurately)\s+){0,2}"
)
_AI_NOUN = (
    r"(?:ai|a\.i\.|artificial intelligence|(?:large |helpful |virtual |digital |text[- ]based |conversational |"
    r"responsible |ethical |friendly )*(?:language model|llm|chatbot|chat bot|ai assistant|ai model|ai language "
    r"model|virtual assistant|ai system|computer program|machine learning model|bot))"
)

_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "ai_identity",
        rf"\b(?:as|being) an? {_AI_NOUN}(?:\s+(?:language model|model|assistant|system|program))?"
        r"(?:[,;:]|\s+"
        r"(?:developed|designed|created|built|trained|made|programmed|that|who|with)\b[^.!?\n]{0,80}?"
        r"\b(?:i|my|me)\b)",
    ),
    (
        "ai_identity",
        rf"\bi(?:{_A}m| am)\s+(?:just |only |merely |simply |not a human[,;]? (?:but |just |only )?)?"
        rf"(?:an? )?{_AI_NOUN}\b",
    ),
    (
        "ai_identity",
        rf"\bi (?:do not|don{_A}?t) (?:have|possess) (?:personal |real[- ]time |any personal )"
        r"(?:opinions|feelings|emotions|experiences|beliefs|preferences|views|access|information|data)",
    ),
    (
        "ai_identity",
        rf"\bi (?:do not|don{_A}?t) have (?:feelings|emotions|a body|consciousness|the ability to feel|"
        r"access to (?:the internet|real[- ]time|current|external|your|personal|live)|internet access|"
        r"browsing (?:capabilities|capability|access))",
    ),
    ("inability", rf"{_I}\s+{_CANT}\s+(?:be able to\s+)?{_ADVERBS}{_ACTION}\b"),
    (
        "inability",
        rf"{_I}(?:\s+am|{_A}m)\s+(?:(?:afraid|sorry)[, ]+(?:that\s+)?i\s+(?:can|am|{_A}m)\w*\s+)?"
        r"(?:unable to|incapable of|not (?:(?:really|currently|yet) )?(?:able to|capable of|allowed to|"
        r"permitted to|authori[sz]ed to|in a position to|programmed to|designed to|equipped to|qualified to|"
        r"qualified or|licensed to|a (?:licensed |qualified )?(?:doctor|lawyer|financial advisor|"
        r"medical professional|therapist)))",
    ),
    ("inability", rf"\bi(?:{_A}m| am) afraid (?:that )?i {_CANT}\b"),
    (
        "inability",
        rf"{_I}\s+(?:do not|don{_A}?t|no longer)\s+have\s+(?:the\s+)?(?:ability|capability|capabilities|"
        r"capacity|means|access|permission|tools?)\s+to\b",
    ),
    ("inability", rf"{_I}\s+(?:lack|have no)\s+(?:the\s+)?(?:ability|capability|capacity|means|way|access)\b"),
    (
        "inability",
        rf"\b(?:it|this|that)(?:{_A}s| is| would be)\s+(?:(?:not possible|impossible) for me|beyond my|"
        r"outside my|not within my|not something I can)",
    ),
    (
        "inability",
        rf"\b(?:outside|beyond) (?:of )?(?:the scope of )?(?:what|the things) i(?:{_A}m| am)? ?(?:can|could|"
        r"am able|designed|able|allowed|programmed|built)",
    ),
    (
        "inability",
        r"\b(?:beyond|outside(?: of)?) (?:my|the scope of my) (?:capabilities|abilities|scope|programming|"
        r"knowledge|capacity)",
    ),
    (
        "inability",
        rf"\b(?:not|isn{_A}?t) something (?:that )?i(?: am| {_A}m|{_A}m)? (?:can|could|am able to|"
        r"able to|do|offer|support|provide|help with)\b",
    ),
    (
        "decline",
        rf"\bi(?:{_A}ll| will| must| have to| need to| would have to|{_A}ll have to| will have to)\s+"
        r"(?:respectfully |politely |kindly )?(?:decline|refuse|refrain|pass on)",
    ),
    (
        "decline",
        rf"\bi(?: refuse to|{_A}m not going to| am not going to| would rather not| prefer not to|"
        rf"{_A}d (?:rather|prefer) not(?: to)?| would prefer not to| won{_A}?t be| will not be)\s+{_ADVERBS}"
        r"(?:help|assist|provid|writ|creat|generat|produc|engag|"
        r"participat|do|answer|compl|fulfil|support|giv|shar|mak|draft)",
    ),
    (
        "decline",
        rf"\bi(?:{_A}m| am) not (?:comfortable|able to in good conscience)|\bi (?:do not|don{_A}?t) feel "
        r"comfortable",
    ),
    (
        "decline",
        r"\b(?:against|violates?|violating|conflicts? with) (?:my|our|the|openai['’]s) (?:ethical )?"
        r"(?:guidelines|policies|policy|programming|principles|content polic(?:y|ies)|usage polic(?:y|ies))",
    ),
    ("decline", r"\bnot (?:appropriate|ethical|responsible) for me to\b"),
)
_DEFLECTIONS: tuple[str, ...] = (
    rf"\bi(?:{_A}m| am) not (?:sure|certain|clear) (?:what|which|who|about what|what exactly)\b[^.?!]{{0,40}}?"
    r"\byou(?:['’]re| are)?\s+(?:mean|meant|asking|referring|talking|looking for|want)",
    r"\bi(?:['’]m| am) not (?:sure|certain) what you mean\b",
    r"\b(?:your|the) (?:message|question|request|input|text|prompt) (?:seems|appears|is|was)(?: to be)? "
    r"(?:incomplete|cut off|unclear|missing|empty|truncated)",
    rf"\b(?:it )?(?:seems|looks) (?:like )?(?:you (?:forgot|haven{_A}?t|didn{_A}?t|did not|have not)|"
    r"(?:your|the) (?:message|question|text|request) (?:got|was|is))",
    rf"\byou (?:haven{_A}?t|have not|didn{_A}?t|did not) (?:yet )?(?:provide|include|share|specif|attach|give|"
    r"paste|mention|tell)",
    r"\bplease (?:provide|share|paste|send|give|upload|attach|specify|clarify|include) (?:me |us )?(?:with )?"
    r"(?:the|your|more|some|a|which|what|it)\b",
    r"\bcould you (?:please )?(?:provide|share|paste|send|clarify|specify|rephrase|give me|tell me) (?:the|your|"
    r"more|some|a|which|what|me with)\b",
    rf"\bthere (?:is|{_A}s|are) no (?:text|code|passage|article|paragraph|sentence|list|data|document|file|image|"
    r"attachment|link|question)s? (?:provided|included|attached|given|here|to)",
    rf"\bi (?:do not|don{_A}?t) (?:see|have) (?:the|any|a|an) (?:text|code|passage|article|paragraph|sentence|"
    r"list|data|document|file|image|attachment|link|question|context)",
    r"\bwithout (?:more|additional|further|any) (?:context|information|details)\b[^.!?]{0,40}\bi\b",
    r"\bi need (?:more|additional|some more|further) (?:context|information|details)",
)
_REFUSAL = [(kind, re.compile(p, re.IGNORECASE)) for kind, p in _PATTERNS]
_DEFLECT = re.compile("|".join(f"(?:{p})" for p in _DEFLECTIONS), re.IGNORECASE)


def opening(text: str, max_sentences: int, max_chars: int) -> str:
    """The first sentences of the prose (code blocks removed), at most max_chars."""
    return " ".join(sentences(without_code(text)[: max_chars * 2], max_sentences))[:max_chars]


def refusal(response: str, max_sentences: int = 3, max_chars: int = 400, instruction: str = "") -> str | None:
    """'<kind> <quote>' when the opening refuses or disclaims, else None.

    A phrase the instruction itself contains ("Use 'I must decline' in a sentence") is not a refusal."""
    head, asked = opening(response, max_sentences, max_chars), instruction.lower().replace("’", "'")
    for kind, rx in _REFUSAL:
        for m in rx.finditer(head):
            if m.group(0).strip().lower().replace("’", "'") not in asked:
                return f"{kind} {m.group(0).strip()!r} at char {m.start()}"
    return None


def deflection(response: str, max_sentences: int = 2, max_words: int = 80, instruction: str = "") -> str | None:
    """'<quote>' when a short response asks for missing input or says it does not understand.

    An instruction that carries its own input ("Make this formal: can you send me the report?") has
    nothing missing to ask for, so a response quoting such phrases is not a deflection."""
    if len(response.split()) > max_words or _has_payload(instruction):
        return None
    head = opening(response, max_sentences, 300)
    m = _DEFLECT.search(head)
    return None if m is None else f"{m.group(0).strip()!r} at char {m.start()} ({len(response.split())} words)"


def _has_payload(instruction: str, min_words: int = 3) -> bool:
    head = request_part(instruction)
    return head != instruction and len(instruction[len(head) :].split()) >= min_words
