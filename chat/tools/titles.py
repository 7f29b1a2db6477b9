"""Readable tool titles for cards: the tool's MCP `title` when its server gave one, else its name prettified."""

from __future__ import annotations

from chat.tools.base import NAME_SEPARATOR

# Qualified name -> the MCP title from the last listing in this process (hub.list_tools keeps it current).
_titles: dict[str, str] = {}


def remember(qualified_name: str, title: str | None) -> None:
    if title:
        _titles[qualified_name] = title
    else:
        _titles.pop(qualified_name, None)


def prettify(tool: str) -> str:
    """"convert_units" -> "Convert units", "getWeather" -> "Get weather"."""
    words: list[str] = []
    for part in tool.replace("-", "_").replace(".", "_").split("_"):
        word = ""
        for char in part:
            if char.isupper() and word and not word[-1].isupper():
                words.append(word)
                word = ""
            word += char
        if word:
            words.append(word)
    if not words:
        return tool
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return text[0].upper() + text[1:]


def tool_title(qualified_name: str) -> str:
    """What a card calls the tool `server__tool`."""
    if qualified_name in _titles:
        return _titles[qualified_name]
    _, _, tool = qualified_name.partition(NAME_SEPARATOR)
    return prettify(tool or qualified_name)
