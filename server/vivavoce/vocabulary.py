"""The words of the code in front of the user, for the transcription and back from it.

* :func:`rank` picks the identifiers of the open documents (nearest the cursor first, then the
  most frequent, the active document before the others), the file names of the open documents
  and the user's fixed words (project jargon), capped at :data:`LIMIT`.
* :func:`transcription_hints` turns them into what the transcription model takes: ``keywords``
  for the models that take them, else a ``prompt`` (whisper-1 reads a prompt as a word list).
* :func:`to_code` maps spoken forms back to identifiers where text goes into the buffer or a
  tool: "get user by id" → ``getUserById`` when that identifier is in the vocabulary, and the
  explicit forms "snake case max retries" → ``max_retries`` (camel, pascal, kebab, constant).

A leaf: it imports nothing of vivavoce, so the local peer may use :func:`split_identifier` too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: The most words sent to the transcription model (keywords or prompt).
LIMIT = 100
#: Characters around the cursor read from the active document (before and after).
WINDOW = 6000
#: Characters read from the start of every other open document.
OTHER_DOCUMENT_CHARS = 4000
#: Shorter identifiers are not worth a hint (loop indices, ``x``, ``id``).
MIN_LENGTH = 4
#: A single plain word (no case change, no ``_``) is a hint from this length on.
PLAIN_WORD_LENGTH = 7
#: The longest prompt sent (the API's own limit on a prompt is far higher).
PROMPT_CHARS = 1000

#: Transcription models that take ``keywords`` (openai SDK 3.60 ``AudioTranscription``).
KEYWORD_MODELS = frozenset({"gpt-transcribe", "gpt-live-transcribe"})
#: Models that take neither keywords nor a prompt in GA realtime sessions.
NO_HINT_MODELS = frozenset({"gpt-realtime-whisper"})

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[-.][A-Za-z_][A-Za-z0-9_]*)*")
_WORDS_OF = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
#: Keywords of most languages, and English words: frequent in code, no help to transcription.
_COMMON = frozenset(
    [
        "and",
        "as",
        "assert",
        "async",
        "await",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "def",
        "default",
        "del",
        "delete",
        "do",
        "elif",
        "else",
        "enum",
        "export",
        "extends",
        "false",
        "final",
        "finally",
        "for",
        "from",
        "func",
        "function",
        "global",
        "if",
        "impl",
        "import",
        "in",
        "interface",
        "is",
        "lambda",
        "let",
        "match",
        "mod",
        "module",
        "new",
        "nil",
        "none",
        "not",
        "null",
        "or",
        "pass",
        "private",
        "protected",
        "pub",
        "public",
        "raise",
        "return",
        "self",
        "static",
        "struct",
        "super",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "type",
        "typeof",
        "use",
        "var",
        "void",
        "while",
        "with",
        "yield",
        "the",
        "this",
        "that",
        "then",
        "than",
        "from",
        "have",
        "into",
        "over",
        "under",
        "what",
        "when",
        "where",
        "which",
        "will",
        "would",
        "should",
        "could",
        "there",
        "their",
        "them",
        "they",
    ]
)


@dataclass(frozen=True)
class Document:
    """An open document as the vocabulary sees it (``cursor``: None when not the active one)."""

    uri: str
    text: str
    cursor: int | None = None


def split_identifier(name: str) -> list[str]:
    """The lower-case words of an identifier: ``getUserByID`` → get user by id,
    ``max_retries`` → max retries, ``HTTPServer2`` → http server 2, ``vocab.py`` → vocab py."""
    return [part.lower() for part in _WORDS_OF.findall(name)]


def file_name(uri: str) -> str:
    """The file name of a document URI."""
    from urllib.parse import unquote, urlparse

    path = unquote(urlparse(uri).path) or uri
    return path.rstrip("/").rsplit("/", 1)[-1]


def _identifiers(text: str) -> Iterable[tuple[int, str]]:
    for match in _IDENT.finditer(text):
        word = match.group()
        for piece in word.split(".") if "." in word else (word,):
            yield match.start(), piece


def _worth(word: str) -> bool:
    """An identifier worth a hint: a compound (``max_retries``, ``getUser``) or a long single
    word (``frobnicate``); short plain words (``path``, ``load``) are transcribed well anyway."""
    if len(word) < MIN_LENGTH or word.lower() in _COMMON or word.isdigit():
        return False
    return len(split_identifier(word)) > 1 or len(word) >= PLAIN_WORD_LENGTH


def rank(documents: Sequence[Document], fixed: Sequence[str] = (), limit: int = LIMIT) -> list[str]:
    """The vocabulary: fixed words first, then file names, then identifiers by rank.

    An identifier ranks by how close its nearest use is to the cursor (the active document's
    window only), then by how often it occurs; other documents' identifiers follow, by count.
    """
    out: dict[str, None] = {}

    def add(word: str) -> None:
        if word and word not in out and len(out) < limit:
            out[word] = None

    for word in fixed:
        add(word.strip())
    for doc in documents:
        name = file_name(doc.uri)
        if name:
            add(name)
    active: dict[str, tuple[int, int]] = {}  # word → (distance, -count)
    others: dict[str, int] = {}
    for doc in documents:
        if doc.cursor is not None:
            start = max(0, doc.cursor - WINDOW)
            for offset, word in _identifiers(doc.text[start : doc.cursor + WINDOW]):
                if not _worth(word):
                    continue
                distance = abs(start + offset - doc.cursor)
                best, count = active.get(word, (distance, 0))
                active[word] = (min(best, distance), count - 1)
        else:
            for _, word in _identifiers(doc.text[:OTHER_DOCUMENT_CHARS]):
                if _worth(word):
                    others[word] = others.get(word, 0) + 1
    # Distance in buckets of ~5 lines, so a word used often nearby beats one used once closer.
    for word in sorted(active, key=lambda w: (active[w][0] // 400, active[w][1], w)):
        add(word)
    for word in sorted(others, key=lambda w: (-others[w], w)):
        add(word)
    return list(out)


def transcription_hints(model: str | None, words: Sequence[str]) -> dict[str, object]:
    """``keywords`` or ``prompt`` for ``model`` (empty: no words, or a model taking neither)."""
    if not words or (model or "") in NO_HINT_MODELS:
        return {}
    if (model or "") in KEYWORD_MODELS:
        return {"keywords": list(words)}
    prompt = ""
    for word in words:  # a list of words, cut at a whole word
        if len(prompt) + len(word) + 2 > PROMPT_CHARS:
            break
        prompt = f"{prompt}, {word}" if prompt else word
    return {"prompt": prompt}


# ---------------------------------------------------------------------- spoken forms → code

_CASES = {
    ("snake", "case"): "snake",
    ("camel", "case"): "camel",
    ("pascal", "case"): "pascal",
    ("kebab", "case"): "kebab",
    ("constant", "case"): "constant",
    ("screaming", "snake"): "constant",
}
_TOKEN = re.compile(r"[A-Za-z0-9_]+|[^A-Za-z0-9_]+")
#: Words a cased phrase stops at (they are not part of an identifier).
_STOP = frozenset({"to", "and", "equals", "with", "in", "into", "then", "of"})


def cased(words: Sequence[str], case: str) -> str:
    """``words`` joined as an identifier in ``case`` (snake, camel, pascal, kebab, constant)."""
    lower = [w.lower() for w in words]
    if case == "snake":
        return "_".join(lower)
    if case == "constant":
        return "_".join(lower).upper()
    if case == "kebab":
        return "-".join(lower)
    if case == "pascal":
        return "".join(w.capitalize() for w in lower)
    return lower[0] + "".join(w.capitalize() for w in lower[1:]) if lower else ""


def _phrases(vocabulary: Iterable[str]) -> dict[tuple[str, ...], str]:
    """Spoken word sequence → identifier, for identifiers of two words or more."""
    out: dict[tuple[str, ...], str] = {}
    for word in vocabulary:
        parts = tuple(split_identifier(word))
        if len(parts) >= 2 and "." not in word:  # file names are said as they are
            out.setdefault(parts, word)
    return out


def to_code(text: str, vocabulary: Iterable[str] = ()) -> str:
    """``text`` with spoken identifiers written as code (see the module's docstring).

    "snake case max retries" → ``max_retries`` (the phrase runs to the end of the sentence,
    or to the longest vocabulary identifier it begins, or stops at "to", "and", …); "get user
    by id" → ``getUserById`` when ``getUserById`` is in ``vocabulary`` (longest match first).
    """
    tokens = _TOKEN.findall(text)
    words = [(i, t) for i, t in enumerate(tokens) if t[0].isalnum() or t[0] == "_"]
    phrases = _phrases(vocabulary)
    longest = max((len(p) for p in phrases), default=0)
    replace: dict[int, tuple[int, str]] = {}  # first token → (last token, replacement)
    k = 0
    while k < len(words):
        lowered = [w.lower() for _, w in words]
        pair = tuple(lowered[k : k + 2])
        if pair in _CASES and k + 2 < len(words):
            case, start = _CASES[pair], k + 2
            end = start
            known = [
                n
                for n in range(min(longest, len(words) - start), 1, -1)
                if tuple(lowered[start : start + n]) in phrases
            ]
            if known:  # an identifier of the vocabulary: its words, and no more
                end = start + known[0]
            # Else up to a stop word or the end of the sentence (only spaces between words).
            while not known and end < len(words) and lowered[end] not in _STOP:
                if end > start and not tokens[words[end][0] - 1].isspace():
                    break
                end += 1
            end = max(end, start + 1)
            replace[words[k][0]] = (words[end - 1][0], cased(lowered[start:end], case))
            k = end
            continue
        for n in range(min(longest, len(words) - k), 1, -1):
            span = words[k : k + n]
            spaced = all(tokens[i - 1].isspace() for i, _ in span[1:])
            if spaced and tuple(lowered[k : k + n]) in phrases:
                replace[span[0][0]] = (span[-1][0], phrases[tuple(lowered[k : k + n])])
                k += n
                break
        else:
            k += 1
    if not replace:
        return text
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if i in replace:
            last, word = replace[i]
            out.append(word)
            i = last + 1
        else:
            out.append(tokens[i])
            i += 1
    return "".join(out)
