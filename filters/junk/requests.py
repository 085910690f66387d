"""Instructions that ask for nothing: statements, greetings, thanks, titles, story openings.

An instruction is a request when any of these holds: it has a question mark; it has a request cue
("please", "can you", "I need", "help me", "I want to", "any tips", "pros and cons of", ...); or a
sentence or clause starts with an imperative verb ("Write", "Explain", "Given a list, sort it").
Otherwise it is rejected when it is clearly a statement: it ends with '.' or '!', has several
sentences, opens with a first-person statement ("I am a teacher"), or is only a greeting/thanks.
Terse topic prompts without a final period ("binary search in Rust") are kept, and so are texts that
do not read as English (too few English function words): the language check judges those.
"""

from __future__ import annotations

import re

from filters.junk.text import words

_VERB_LIST = """
    act add adapt adjust advise alphabetize analyze analyse annotate answer apply arrange assess assign assume
    balance break brainstorm build calculate categorize categorise change check choose cite clarify classify
    clean combine come compare compile complete compose compute condense construct continue convert correct
    count craft create critique debug decide decode define delete demonstrate derive describe design detail
    detect determine develop devise diagnose differentiate discuss distinguish do draft draw edit elaborate
    eliminate encode enumerate estimate evaluate examine expand explain explore express extract fill find fix
    flag format formulate generate get give go group guess help highlight identify illustrate imagine
    implement improve include indicate infer insert interpret introduce investigate justify keep label
    let list locate look make map match measure mention merge model modify name narrate normalize note
    offer optimize optimise order organize organise outline paraphrase parse pick plan play plot point
    predict prepare present pretend print prioritize produce proofread propose prove provide put quote rank
    rate read recommend refactor reformat rephrase replace report represent research resolve respond
    restate restructure return review revise rewrite say schedule score select separate set share shorten show
    simplify simulate sketch solve sort specify spell split state structure suggest summarize summarise
    support tabulate take talk teach tell test think trace transform translate troubleshoot try turn
    type update use validate verify visualize walk weigh work write reverse invert swap remove filter sum
    multiply divide subtract round factor factorize integrate differentiate animate invent recite rhyme conjugate
    pluralize capitalize punctuate abbreviate pronounce transliterate romanize diagram graph chart quiz
    interview roleplay behave reply greet welcome thank apologize apologise convince persuade argue debate
    defend challenge criticize praise grade finish extend append wrap escape encrypt decrypt hash compress
    install configure deploy setup run execute call invoke query fetch scrape download upload connect
    migrate restore rename move copy trim pad join concatenate tokenize tag caption title tweet post email
    rearrange reorder regroup reword retell recommend remember remind consider contrast critique deduce
    memorize list name outline practice refute rewrite save schedule search sing sum teach tweak unscramble
    """
_VERBS = frozenset(_VERB_LIST.split())
_FILLER = (
    r"(?:(?:now|also|then|next|first|finally|so|ok|okay|hey|hi|hello|please|just|quickly|briefly|kindly)[,!]?\s+)*"
)
_CLAUSE_START = re.compile(
    rf"(?:^|[.!;:\n]\s*|,\s*(?:and\s+|then\s+)?|\band\s+|\bthen\s+){_FILLER}([A-Za-z]+)\b", re.IGNORECASE
)
_CUES = re.compile(
    r"\b(?:please|pls|kindly|can you|could you|would you|will you|can i|could i|should i|how (?:to|do|does|can|"
    r"should|would|much|many|long)|help me|assist me|i need|i want|i['’]d like|i would like|i['’]d love|i wish|"
    r"i['’]m looking for|i am looking for|looking for|i['’]m trying|i am trying|(?:want|need|planning|trying|"
    r"hoping|looking) to|tell me|show me|give me|teach me|let me know|let['’]s|what['’]s|who['’]s|where['’]s|"
    r"how['’]s|i wonder|wondering|any (?:tips|advice|ideas|suggestions|recommendations|thoughts)|"
    r"pros and cons|differences? between|ideas for|tips (?:for|on)|examples? of|recipe for|list of|guide to|"
    r"steps to|ways to|explanation of|summary of|overview of|comparison of|definition of|meaning of|"
    r"in (?:\d+|one|two|three|a few) (?:words|sentences|paragraphs|lines)|true or false|yes or no|fill in the|"
    r"multiple choice|which of the following)\b",
    re.IGNORECASE,
)
_SOCIAL = re.compile(
    r"^\W*(?:thanks?|thank you|thx|ty|ok(?:ay)?|great|cool|awesome|nice|perfect|got it|hello|hi|hey|good "
    r"(?:morning|afternoon|evening|night)|bye|goodbye|see you|have a (?:nice|good|great) day)\b",
    re.IGNORECASE,
)
_THANKS = re.compile(
    r"^\W*(?:thanks|thank you|thank u|many thanks)(?: so much| a lot| very much)?(?: for [^.!,\n]*)?[\s.!,]*", re.I
)
_FIRST_PERSON = re.compile(r"^\s*(?:i|i['’]m|i['’]ve|we|we['’]re|my|our)\b", re.IGNORECASE)
_SENTENCES = re.compile(r"[.!。！](?:\s+|$)")
_FUNCTION_WORD_LIST = (
    "the a an is are was were be i you we he she it they my your our this that these those of to in on at for "
    "with and or but not have has had do does did will would can could there here what which who me us"
)
_FUNCTION_WORDS = frozenset(_FUNCTION_WORD_LIST.split())


def _reads_as_english(text: str) -> bool:
    """Enough English function words to judge the sentence's form (other languages are left alone)."""
    ws = words(text)
    return bool(ws) and sum(w in _FUNCTION_WORDS for w in ws) >= max(1, 0.15 * len(ws))


def not_a_request(instruction: str) -> str | None:
    """Why the instruction asks for nothing, or None when it is (or may be) a request."""
    text = instruction.strip()
    if not text or "?" in text or "？" in text or _CUES.search(text):
        return None
    if not _reads_as_english(text) and not _SOCIAL.match(text):
        return None
    rest = _THANKS.sub("", text)
    if any(m.group(1).lower() in _VERBS for m in _CLAUSE_START.finditer(rest)):
        return None
    if _SOCIAL.match(text) and len(text.split()) <= 12:
        return "a greeting or thanks with no request"
    if _FIRST_PERSON.match(text):
        return "a first-person statement with no question or request"
    if len(_SENTENCES.findall(text)) >= 2 or text[-1] in ".!。！":
        return "a statement: no question mark, request phrase or imperative verb"
    return None
