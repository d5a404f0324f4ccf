from __future__ import annotations

from agents.logic.textnorm import FoldedText, Term, find_name, fold


def test_fold_drops_case_diacritics_punctuation() -> None:
    assert fold("Ministère de l'Économie!") == "ministere de l economie"


def test_entity_tolerates_order_spelling_and_punctuation() -> None:
    doc = FoldedText.of("Treasury named Juxinhe Network Technology of Sichuan, and the MSS.")
    assert find_name("Sichuan Juxinhe Network Technology", doc)
    assert find_name("Sichuan Juxinhee Network Technology", doc)  # one letter off
    assert find_name("MSS", doc)


def test_entity_generic_tokens_never_match_alone() -> None:
    doc = FoldedText.of("The ministry said a technology group and a network company were fined.")
    assert find_name("Integrity Technology Group", doc) is None
    assert find_name("Ministry of State Security", doc) is None
    assert find_name("Network Technology Co.", doc) is None


def test_cjk_alias_matches_as_substring() -> None:
    assert find_name("国家安全部", FoldedText.of("美国暂停对中国国家安全部的制裁"))


def test_terms_whole_words_with_prefix_wildcard() -> None:
    doc = FoldedText.of("A rare earthquake; sanctions were lifted.")
    assert Term.parse("rare earth").find(doc) is None
    assert Term.parse("sanction*").find(doc) == "sanctions"
    assert Term.parse("制裁").find(FoldedText.of("对国安部的制裁")) == "制裁"
