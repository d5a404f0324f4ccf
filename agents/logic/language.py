"""Which language a news item is in: by script, then (for Latin script) by function words.

Offline and dependency-free: a story's script settles most languages at once (Hangul is Korean,
kana Japanese, Han without kana Chinese, Arabic script Arabic or Persian...). Latin-script
languages are told apart by their commonest short words ("the", "der", "les", "los", "della",
"não", "się", "ve"...), which every story uses whatever its topic. Too little text, or no clear
winner, gives "und" (undetermined).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

UNDETERMINED = "und"
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# The commonest short words of each language, chosen to overlap as little as possible.
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and of to in is was for that with on by as are from has have its it this which were said after",
        "de": "der die das und nicht mit den dem des ist ein eine einer für auf auch sich von zu im bei nach wird wurde",
        "fr": "le la les des de et une est dans pour que qui sur avec par du au aux ont été sont cette ses leur",
        "es": "el la los las de del y una es en por que con para se su sus al como fue más este esta han según",
        "it": "il lo gli della delle dei degli che di una è per con non sono nel nella alla anche più ha stato",
        "pt": "o os as de do da dos das e um uma é em não que com para por pelo pela ao foi são mais seu sua também",
        "nl": "de het een en van is dat op te zijn niet met voor aan er ook door bij naar werd wordt tot hun uit om maar nog dan waardoor",
        "pl": "i w na z że się nie do jest to od po za przez jak o dla oraz który która było są",
        "tr": "ve bir bu da ile için olarak olan daha gibi çok ise ama sonra kadar yeni ancak göre",
        "sv": "och att det som en på är av för med till den har inte om ett var vid från",
        "id": "dan yang di ini itu dengan untuk dari dalam tidak akan pada juga ke oleh telah",
        "vi": "và của là có được trong cho này với các những một không người đã",
    }.items()
}


# Letters that only one of the languages above uses often: each occurrence is a vote (at most three).
LETTERS: dict[str, str] = {"tr": "ığşİ", "pl": "łąęśźżń", "pt": "ãõ", "de": "ß", "es": "ñ", "vi": "ơưđạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"}


_ASCII_LETTER = re.compile(r"[A-Za-z]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _script_language(text: str) -> str | None:
    """A language settled by its script alone, or None for Latin (or mixed) text."""
    if text.isascii():
        return None  # ASCII letters are all Latin
    counts: Counter[str] = Counter()
    # ASCII letters are Latin: counted in C, so an English story costs no per-letter Python work.
    counts["latin"] = len(_ASCII_LETTER.findall(text))
    for char in _NON_ASCII.findall(text):
        if not char.isalpha():
            continue
        name = _letter_name(char)
        if "HANGUL" in name:
            counts["ko"] += 1
        elif "HIRAGANA" in name or "KATAKANA" in name:
            counts["kana"] += 1
        elif "CJK" in name:
            counts["han"] += 1
        elif "CYRILLIC" in name:
            counts["uk" if char in "їєіґЇЄІҐ" else "cyrillic"] += 1
        elif "ARABIC" in name:
            counts["fa" if char in "پچژگ" else "arabic"] += 1
        elif "HEBREW" in name:
            counts["he"] += 1
        elif "GREEK" in name:
            counts["el"] += 1
        elif "THAI" in name:
            counts["th"] += 1
        elif "DEVANAGARI" in name:
            counts["hi"] += 1
        else:
            counts["latin"] += 1
    letters = sum(counts.values())
    if not letters:
        return None
    if counts["ko"] > 0.3 * letters:
        return "ko"
    if counts["kana"] > 0.05 * letters:
        return "ja"
    if counts["han"] > 0.3 * letters:
        return "zh"
    cyrillic = counts["cyrillic"] + counts["uk"]
    if cyrillic > 0.5 * letters:
        return "uk" if counts["uk"] else "ru"
    arabic = counts["arabic"] + counts["fa"]
    if arabic > 0.5 * letters:
        return "fa" if counts["fa"] > 0.01 * arabic else "ar"
    for lang in ("he", "el", "th", "hi"):
        if counts[lang] > 0.5 * letters:
            return lang
    return None


@lru_cache(maxsize=8192)
def _letter_name(char: str) -> str:
    return unicodedata.name(char, "")


# Each function word's languages, looked up once per word rather than once per language.
_WORD_LANGUAGES: dict[str, tuple[str, ...]] = {}
for _lang, _words in FUNCTION_WORDS.items():
    for _word in _words:
        _WORD_LANGUAGES[_word] = _WORD_LANGUAGES.get(_word, ()) + (_lang,)


def detect_language(text: str, min_votes: int = 2) -> str:
    """ISO 639-1 code of the text's language, or "und"."""
    by_script = _script_language(text)
    if by_script is not None:
        return by_script
    votes: Counter[str] = Counter()
    for lang, letters in LETTERS.items() if not text.isascii() else ():  # none of these letters is ASCII
        votes[lang] += min(3, sum(text.count(letter) for letter in letters))
    for word, count in Counter(_WORD.findall(text.casefold())).items():  # counted in C, each distinct word looked up once
        for lang in _WORD_LANGUAGES.get(word, ()):
            votes[lang] += count
    votes = +votes  # drop zero counts
    if not votes:
        return UNDETERMINED
    (best, top), *rest = votes.most_common(2) + [("", 0)]
    runner_up = rest[0][1]
    if top < min_votes or top < 1.3 * runner_up:
        return UNDETERMINED
    return best
