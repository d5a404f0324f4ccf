"""News items built to be slow to screen, for the timing script and the tests."""

from __future__ import annotations


def pathological_items(size: int) -> dict[str, dict[str, str]]:
    """Bodies of about `size` bytes that hit each look-up's worst case."""

    def fill(unit: str) -> str:
        return (unit * (size // len(unit.encode()) + 1)).encode()[: size - 400].decode("utf-8", "ignore")

    return {
        "repeated entity words": {"title": "Ministry of State Security named again", "body": fill("Ministry State Security Salt ")},
        "repeated glossary terms, Chinese": {"title": "盐台风 制裁", "body": fill("盐台风 稀土 制裁 国家安全部 ")},
        "repeated glossary terms, German": {"title": "Sanktionen gegen das Ministerium", "body": fill("Sanktionen Exportkontrollen seltene Erden ")},
        "one huge token": {"title": "A long token", "body": fill("x")},
        "near-miss tokens for fuzzy look-ups": {"title": "Minstry of Stat Securty", "body": fill("Minstry Stat Securty Typhon Sanctons ")},
        "distinct words": {"title": "Many words", "body": " ".join(f"w{i:06d}x" for i in range(size // 9))[: size - 400]},
    }
