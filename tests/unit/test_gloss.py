"""The cross-language gloss for non-English items."""

from __future__ import annotations

from agents.logic.gloss import GLOSS_PREFIX, Glossary, embedding_text, looks_english
from tests.harness import REPO

GLOSSARY = Glossary.load(REPO / "config" / "glossary.yaml")


def test_language_guess() -> None:
    assert looks_english("The Treasury said on Monday that it has added three firms to the list of blocked companies.")
    assert not looks_english("Das Finanzministerium hat am Montag drei Firmen auf die Liste gesetzt, wie es mitteilte.")
    assert not looks_english("중국 상무부는 희토류 자석 수출에 대해 허가제를 확대한다고 밝혔다.")
    assert not looks_english("Минфин США ввёл санкции против трёх компаний.")


def test_longest_term_wins_so_salt_typhoon_is_not_weather() -> None:
    concepts = GLOSSARY.concepts_in("美国官员称，盐台风黑客仍潜伏在电信网络中。")
    assert "Salt Typhoon" in concepts
    assert "typhoon weather" not in concepts
    assert "typhoon weather" in GLOSSARY.concepts_in("台风带来大暴雨")


def test_inflected_forms_and_order() -> None:
    concepts = GLOSSARY.concepts_in("Россия расширила санкции против редкоземельных компаний")
    assert concepts[:3] == ["Russia", "sanctions", "rare earths"]


def test_gloss_chunks_only_for_non_english() -> None:
    assert GLOSSARY.gloss_chunks("Treasury adds firms to sanctions list", "The US Treasury said the firms were designated today.") == []
    chunks = GLOSSARY.gloss_chunks("중국, 희토류 수출 통제 강화", "중국 상무부는 희토류 자석 수출 허가제를 확대했다.")
    assert chunks and all(c.startswith(GLOSS_PREFIX) for c in chunks)
    assert "rare earths" in chunks[0] and "export controls" in chunks[0]
    assert embedding_text(chunks[0]) == chunks[0][len(GLOSS_PREFIX) :]
