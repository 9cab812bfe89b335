"""Code vocabulary: word error rate and identifiers right on synthesized programming sentences.

Each of :data:`SENTENCES` is said (flite, two voices: ``rms`` and ``slt``) in its spoken form
("call get user by id with the token") and recognized by the local peer's recognizer
(pocketsphinx), then written as code the way the product writes text into the buffer or a
tool (:func:`vivavoce.vocabulary.to_code`). Reference: the code form ("call getUserById with
the token").

* baseline — no vocabulary: the recognizer as it ships, spoken forms mapped with no words
  (only "snake case …" and the like).
* product — the vocabulary of :data:`CODE` open in the editor with the cursor in it
  (:func:`vivavoce.vocabulary.rank`, as sent to the transcription), taught to the recognizer
  (:mod:`vivavoce.peer.lexicon`) and used to map spoken forms back.

Metrics: word error rate of the code form (%, case-insensitive, punctuation ignored, an
identifier one word), word error rate of recognition alone (what was said vs what was heard,
identifiers split into their words), and identifiers right (% of the identifiers in the
references found exactly as written).
Target: identifiers right ≥ 80 % with the vocabulary.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

#: The document open in the editor (its identifiers make the vocabulary).
CODE = """\
import logging
from .store import UserStore, fetchRecord

MAX_RETRIES = 3
log = logging.getLogger(__name__)


class UserService:
    def __init__(self, user_store, retry_count=MAX_RETRIES):
        self.user_store = user_store
        self.retry_count = retry_count
        self.frobnicate_cache = {}

    def getUserById(self, user_id):
        record = fetchRecord(self.user_store, user_id)
        return parseConfig(record)

    def deleteAccount(self, account_id):
        self.user_store.remove(account_id)
        log.info("deleted %s", account_id)

    def frobnicate(self, payload):
        return normalizeInput(payload)

    def sendWelcomeEmail(self, email_address):
        template = loadTemplate("welcome")
        return renderTemplate(template, email_address)


def parseConfig(raw_config):
    return validateSchema(raw_config)


def handleRequest(request_body):
    token = refreshToken(request_body)
    return isAuthenticated(token)
"""

#: (what is said, what it means as code)
SENTENCES: list[tuple[str, str]] = [
    ("call get user by id with the token", "call getUserById with the token"),
    ("rename user id to account id", "rename user_id to account_id"),
    ("the parse config function returns a dict", "the parseConfig function returns a dict"),
    ("set max retries to five", "set MAX_RETRIES to five"),
    ("now frobnicate the payload", "now frobnicate the payload"),
    ("delete account should log the account id", "deleteAccount should log the account_id"),
    ("fetch record takes the user store", "fetchRecord takes the UserStore"),
    ("send welcome email needs an email address", "sendWelcomeEmail needs an email_address"),
    ("load template then render template", "loadTemplate then renderTemplate"),
    ("validate schema is called by parse config", "validateSchema is called by parseConfig"),
    ("handle request reads the request body", "handleRequest reads the request_body"),
    ("refresh token before is authenticated", "refreshToken before isAuthenticated"),
    ("the user service class owns the user store", "the UserService class owns the user_store"),
    ("increase the retry count", "increase the retry_count"),
    ("clear the frobnicate cache", "clear the frobnicate_cache"),
    ("normalize input strips the payload", "normalizeInput strips the payload"),
    ("pass the raw config to validate schema", "pass the raw_config to validateSchema"),
    ("get user by id calls fetch record", "getUserById calls fetchRecord"),
    ("is authenticated returns a boolean", "isAuthenticated returns a boolean"),
    ("move render template into its own module", "move renderTemplate into its own module"),
    ("add a test for delete account", "add a test for deleteAccount"),
    ("log the user id inside get user by id", "log the user_id inside getUserById"),
    ("make max retries a setting", "make MAX_RETRIES a setting"),
    ("call frobnicate from handle request", "call frobnicate from handleRequest"),
    ("the request body may be empty", "the request_body may be empty"),
    ("wrap load template in a try block", "wrap loadTemplate in a try block"),
    ("return early when is authenticated is false", "return early when isAuthenticated is false"),
    ("cache the result of parse config", "cache the result of parseConfig"),
    ("refresh token should retry on failure", "refreshToken should retry on failure"),
    ("send welcome email after signing up", "sendWelcomeEmail after signing up"),
    ("the account id comes from the request body", "the account_id comes from the request_body"),
    ("rename normalize input to clean input", "rename normalizeInput to clean input"),
]  # fmt: skip

VOICES = ("rms", "slt")
TARGET_IDENTIFIERS_PCT = 80.0
_WORD = re.compile(r"[A-Za-z0-9_]+")


def vocabulary() -> list[str]:
    from vivavoce.vocabulary import Document, rank

    return rank([Document("file:///project/users.py", CODE, CODE.index("def frobnicate"))])


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference words)."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)


def identifiers_of(reference: str) -> list[str]:
    """The identifiers of a reference sentence: words with ``_`` or a capital inside."""
    return [w for w in _WORD.findall(reference) if "_" in w or any(c.isupper() for c in w[1:])]


async def bench_vocabulary(cfg: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from vivavoce.peer.stt import Recognizer
    from vivavoce.peer.tts import Synthesizer
    from vivavoce.vocabulary import split_identifier, to_code

    words = tuple(vocabulary())
    synth, recognizer = Synthesizer(), Recognizer()
    sides: dict[str, dict[str, Any]] = {
        "baseline": {"words": [], "rows": []},
        "product": {"words": list(words), "rows": []},
    }
    sentences = SENTENCES
    t0 = time.perf_counter()
    for voice in VOICES:
        for said, code in sentences:
            pcm = await synth.synthesize(said, voice=voice)
            for side in sides.values():
                vocab = tuple(side["words"])
                heard = await recognizer.transcribe(pcm, vocab)
                written = to_code(heard, vocab)
                errors, total = word_errors(code, written)
                # Recognition alone: what was said vs what was heard, identifiers as words.
                spoken_errors, _ = word_errors(said, " ".join(split_identifier(heard)))
                idents = identifiers_of(code)
                right = sum(1 for w in idents if w in _WORD.findall(written))
                side["rows"].append(
                    {
                        "voice": voice,
                        "reference": code,
                        "heard": heard,
                        "written": written,
                        "errors": errors,
                        "spoken_errors": spoken_errors,
                        "spoken_words": len(said.split()),
                        "words": total,
                        "identifiers": len(idents),
                        "identifiers_right": right,
                    }
                )
    for side in sides.values():
        rows = side["rows"]
        side["wer_pct"] = 100 * sum(r["errors"] for r in rows) / sum(r["words"] for r in rows)
        side["spoken_wer_pct"] = (
            100 * sum(r["spoken_errors"] for r in rows) / sum(r["spoken_words"] for r in rows)
        )
        side["identifiers_pct"] = (
            100 * sum(r["identifiers_right"] for r in rows) / sum(r["identifiers"] for r in rows)
        )
        for voice in VOICES:
            mine = [r for r in rows if r["voice"] == voice]
            side[f"wer_pct_{voice}"] = (
                100 * sum(r["errors"] for r in mine) / max(1, sum(r["words"] for r in mine))
            )
    prod = sides["product"]
    prod["notes"] = {
        "vocabulary sentences": f"{len(sentences)} × voices {', '.join(VOICES)} "
        f"({time.perf_counter() - t0:.0f} s); vocabulary {len(words)} words",
        "vocabulary WER per voice (baseline → product)": ", ".join(
            f"{v} {sides['baseline'][f'wer_pct_{v}']:.1f} → {prod[f'wer_pct_{v}']:.1f} %"
            for v in VOICES
        ),
    }
    return sides["baseline"], prod


def vocabulary_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.stats import record

    right = prod["identifiers_pct"]
    identifiers = {
        "product": round(right, 3),
        "baseline": round(raw["identifiers_pct"], 3),
        "unit": "% right",
        "ratio": round(right / raw["identifiers_pct"], 3) if raw["identifiers_pct"] else None,
        "target": f">= {TARGET_IDENTIFIERS_PCT:.0f} %",
        "pass": right >= TARGET_IDENTIFIERS_PCT,
    }
    return {
        "vocabulary_wer": record(prod["wer_pct"], raw["wer_pct"], "% WER (code)", 1.0),
        "vocabulary_wer_spoken": record(
            prod["spoken_wer_pct"], raw["spoken_wer_pct"], "% WER (words said)", 1.0
        ),
        "vocabulary_identifiers": identifiers,
    }


if __name__ == "__main__":
    import json

    base, product = asyncio.run(bench_vocabulary(None))
    print(json.dumps(vocabulary_metrics(base, product), indent=1))
    for a, b in zip(base["rows"], product["rows"], strict=True):
        print(f"{a['voice']} | {a['reference']}\n   - {a['written']}\n   + {b['written']}")
