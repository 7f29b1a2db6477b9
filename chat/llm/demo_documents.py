"""How the offline demo model answers about documents: the sentence that best matches the question, cited.

Research mode: it searches with `documents__search`, then quotes the best sentence of the passages
found. Quote mode: it reads the documents quoted in its system prompt (chat/documents/context.py).
Both are bounded: the prompt is within the quote budget and the tool result within MCP_MAX_RESULT_CHARS.
"""

from __future__ import annotations

import re

SEARCH_TOOL = "documents__search"
_WORD = re.compile(r"[^\W_]{3,}")
_STOP = frozenset(
    "the and for are was were what which who whom whose when where why how does did this that these those with from "
    "about into have has had not but you your yours they them their there here its it's say says said tell document "
    "documents file page pages".split()
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_HEADER = re.compile(r"^\[\d+\] (.+)$")
_DOCUMENT = re.compile(r'^<document name="([^"\n]{1,200})">$')
_PAGE = re.compile(r"^\[page (\d+)\]$")


def wants_search(available: set[str]) -> bool:
    return SEARCH_TOOL in available


def answer_from_search(result: str, question: str) -> str:
    """A reply quoting the best sentence of the passages the search returned, with its document and page."""
    sources: list[tuple[str, str]] = []  # (citation, passage line)
    citation = ""
    for line in result.splitlines():
        if header := _HEADER.match(line):
            citation = header.group(1)
        elif citation and line.strip():
            sources.append((citation, line))
    best = _best(sources, question)
    if best is None:
        return "I searched your documents and found nothing about that. Try other words."
    sentence, citation = best
    return f'Your documents say: "{sentence}" ({citation}).'


def answer_from_quoted(system: str, question: str) -> str | None:
    """A reply from the documents quoted in the system prompt; None when none are quoted."""
    sources: list[tuple[str, str]] = []
    name, page = "", ""
    for line in system.splitlines():
        if document := _DOCUMENT.match(line):
            name, page = document.group(1), ""
        elif line == "</document>":
            name = ""
        elif name and (number := _PAGE.match(line)):
            page = number.group(1)
        elif name and line.strip():
            sources.append((f"{name}, page {page}" if page else name, line))
    if not sources:
        return None
    best = _best(sources, question)
    if best is None:
        return "I read the attached documents but found nothing about that."
    sentence, citation = best
    return f'From the attached documents: "{sentence}" ({citation}).'


def _best(sources: list[tuple[str, str]], question: str) -> tuple[str, str] | None:
    """The sentence sharing the most words with the question (the first of equals); None when none shares one."""
    wanted = {word for word in _WORD.findall(question.lower()) if word not in _STOP}
    best: tuple[int, str, str] | None = None
    for citation, line in sources:
        for match in _SENTENCE.finditer(line):
            sentence = match.group(0).strip()
            score = len(wanted & set(_WORD.findall(sentence.lower())))
            if score and (best is None or score > best[0]):
                best = (score, sentence, citation)
    return None if best is None else (best[1], best[2])
