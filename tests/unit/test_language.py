"""The language router: script first, then function words; "und" rather than a guess."""

from __future__ import annotations

import json

import pytest

from agents.logic.language import UNDETERMINED, detect_language
from tests.harness import REPO

# Sentences written for this test, one news-like sentence per language.
SENTENCES = {
    "it": "Il governo ha annunciato nuove sanzioni contro la banca, che sono entrate in vigore nella notte.",
    "pt": "O governo anunciou novas sanções contra o banco, que não tinha licença para exportar o minério.",
    "pl": "Rząd ogłosił nowe sankcje wobec banku, który nie miał licencji na eksport rudy.",
    "tr": "Hükümet, bankaya yönelik yeni yaptırımlar açıkladı ve bu karar hemen yürürlüğe girdi.",
    "nl": "De regering heeft nieuwe sancties aangekondigd tegen de bank, die niet aan de regels voldeed.",
    "sv": "Regeringen har infört nya sanktioner mot banken och det är inte första gången.",
    "id": "Pemerintah mengumumkan sanksi baru terhadap bank itu dan tidak akan mencabutnya dalam waktu dekat.",
    "vi": "Chính phủ đã công bố các biện pháp trừng phạt mới đối với ngân hàng này và những công ty liên quan.",
    "ar": "أعلنت الحكومة عقوبات جديدة على البنك بسبب صادرات المعادن النادرة.",
    "fa": "دولت تحریم‌های جدیدی علیه بانک اعلام کرد و گفت که این تصمیم فوری اجرا می‌شود.",
    "uk": "Уряд оголосив нові санкції проти банку, які набули чинності вночі.",
    "el": "Η κυβέρνηση ανακοίνωσε νέες κυρώσεις κατά της τράπεζας.",
    "he": "הממשלה הודיעה על סנקציות חדשות נגד הבנק.",
    "th": "รัฐบาลประกาศมาตรการคว่ำบาตรใหม่ต่อธนาคาร",
}


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_each_language_outside_the_dev_set(lang: str) -> None:
    assert detect_language(SENTENCES[lang]) == lang


def test_every_dev_item_is_routed_to_its_labelled_language() -> None:
    rows = [json.loads(line) for line in (REPO / "config" / "labelled" / "news-dev-labelled.jsonl").read_text().splitlines()]
    wrong = [(r["id"], r["lang"], detect_language(r["title"] + " " + r.get("body", ""))) for r in rows
             if detect_language(r["title"] + " " + r.get("body", "")) != r["lang"]]
    assert not wrong and len(rows) == 152


@pytest.mark.parametrize("text", ["", "12345 !!!", "OFAC", "Gazprombank"])
def test_too_little_to_tell_is_undetermined(text: str) -> None:
    assert detect_language(text) == UNDETERMINED


def test_the_multilingual_set_is_routed_to_its_labelled_languages() -> None:
    path = REPO / "config" / "labelled" / "news-multilingual-labelled.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len({r["lang"] for r in rows}) >= 6
    assert all(detect_language(r["title"] + " " + r["body"]) == r["lang"] for r in rows)
