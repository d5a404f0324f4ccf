"""The cross-lingual decision with the real models: a story in a language outside the glossary is
read by the multilingual model, matches on meaning, and shows its own sentence and the exemplar;
a negative in the same language does not reach the transformer; an uncovered language says so."""

from __future__ import annotations

from agents.logic.crosslingual import Route
from agents.logic.presearch import CROSSLINGUAL
from agents.logic.screening import Screener, TextItem

POLISH_SANCTIONS = TextItem(
    "pl-s",
    "Departament Skarbu USA nakłada sankcje na trzy chińskie firmy za dostawy części do irańskich dronów",
    "Amerykański Departament Skarbu zamroził aktywa trzech spółek z Hongkongu i Shenzhen. Według urzędników firmy "
    "sprzedawały silniki i elektronikę producentom dronów w Iranie. Obywatelom USA zakazano handlu z tymi podmiotami.",
)
POLISH_SPORT = TextItem(
    "pl-n",
    "Legia Warszawa wygrywa derby i awansuje na pierwsze miejsce w tabeli Ekstraklasy",
    "Piłkarze Legii pokonali rywali 3:1 po dwóch golach w drugiej połowie. Trener pochwalił obronę i kibiców, "
    "którzy wypełnili stadion do ostatniego miejsca.",
)
VIETNAMESE_CAMPAIGN = TextItem(
    "vi-t",
    "Nhóm tin tặc Salt Typhoon xâm nhập mạng viễn thông của nhiều quốc gia",
    "Các cơ quan an ninh cho biết chiến dịch Salt Typhoon, được cho là có liên hệ với Bộ An ninh Quốc gia Trung Quốc, "
    "đã truy cập hệ thống nghe lén hợp pháp của các nhà mạng.",
)


def test_a_story_in_polish_matches_on_meaning_and_shows_its_own_sentence(multilingual_screener: Screener, embedder) -> None:
    [screened] = multilingual_screener.screen([POLISH_SANCTIONS], embedder.encode)
    assert screened.passed.get("sanctions") == CROSSLINGUAL  # the presearch sent it on, for its title
    decision = next(d for d in screened.decisions if d.watchlist.id == "sanctions")
    assert decision.matched and decision.alone and decision.evidence["rule"] == "cross-lingual meaning (pl)"
    crossed = decision.evidence["crosslingual"]
    assert crossed["similarity"] >= crossed["threshold"] == decision.watchlist.thresholds.crosslingual
    assert crossed["exemplar"] in decision.watchlist.exemplars
    # The item's own Polish sentence, not a gloss and not English.
    assert crossed["found"] == decision.evidence["sentence"] and crossed["found"] in POLISH_SANCTIONS.title + " " + POLISH_SANCTIONS.body
    assert decision.evidence["language"] == {"code": "pl", "covered": True}


def test_without_the_multilingual_model_the_same_story_is_missed(screener: Screener, embedder) -> None:
    """The control: the shipped matcher alone (MiniLM, keywords, glossary) misses it, so the match above is the new signal's."""
    [screened] = screener.screen([POLISH_SANCTIONS], embedder.encode, full=True)
    assert "sanctions" not in screened.matched_ids


def test_a_polish_negative_never_reaches_the_transformer(multilingual_screener: Screener, embedder) -> None:
    [screened] = multilingual_screener.screen([POLISH_SPORT], embedder.encode)
    assert not screened.candidate and not screened.matched_ids
    [full] = multilingual_screener.screen([POLISH_SPORT], embedder.encode, full=True)
    assert not full.matched_ids  # nor would it match if it did


def test_a_counter_example_closer_than_every_exemplar_blocks_the_cross_lingual_rule(multilingual_screener: Screener) -> None:
    compiled = next(c for c in multilingual_screener.matcher.compiled if c.watchlist.id == "salt_typhoon")
    counter = compiled.watchlist.counter_examples[0]
    prepared = multilingual_screener.prepare("Relatório", counter)  # an English counter-example under a Portuguese title
    xl = multilingual_screener.matcher.crosslingual_view(Route("pt"), prepared.chunks)
    assert xl is not None
    assert compiled._crosslingual(xl, excluded=False) is None


def test_an_uncovered_language_is_screened_by_keywords_and_says_so(multilingual_screener: Screener, embedder) -> None:
    [screened] = multilingual_screener.screen([VIETNAMESE_CAMPAIGN], embedder.encode)
    decision = next(d for d in screened.decisions if d.watchlist.id == "salt_typhoon")
    assert decision.matched, decision.evidence
    assert decision.evidence["language"] == {"code": "vi", "covered": False}
    assert "crosslingual" not in decision.evidence  # the multilingual model never read it
    assert any(m["kind"] == "keyword" for m in decision.evidence["matched"])


def test_the_cascade_keeps_every_cross_lingual_match_on_the_multilingual_set(multilingual_screener: Screener, embedder) -> None:
    """The title gate may only skip work: every match the full matcher makes on the 30 labelled
    stories (six languages outside the glossary) is kept, Salt Typhoon's included, whose rules all need an English term."""
    from agents.logic.evaluation import read_labelled
    from agents.logic.screening import cascade_view
    from wirewatch.screening_setup import LABELLED_MULTILINGUAL

    items = [TextItem(i.id, i.title, i.body) for i in read_labelled(LABELLED_MULTILINGUAL)]
    full = multilingual_screener.screen(items, embedder.encode, full=True)
    cascade = cascade_view(full, multilingual_screener)
    full_matches = {(s.item.id, wid) for s in full for wid in s.matched_ids}
    assert {(s.item.id, wid) for s in cascade for wid in s.matched_ids} == full_matches
    assert len(full_matches) >= 15  # the rule does find these stories (16 of 18 labels when measured)
    assert ("ml-ar-t1", "salt_typhoon") in full_matches


def test_the_exemplar_shown_is_the_one_that_decided(multilingual_screener: Screener, embedder) -> None:
    [screened] = multilingual_screener.screen([POLISH_SANCTIONS], embedder.encode)
    decision = next(d for d in screened.decisions if d.watchlist.id == "sanctions")
    shown = decision.evidence["matched"][0]
    assert shown["kind"] == "exemplar" and shown["text"] == decision.evidence["crosslingual"]["exemplar"]
    assert shown["score"] == decision.evidence["crosslingual"]["similarity"] and shown["found"] == decision.evidence["sentence"]
