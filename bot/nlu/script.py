"""Traditional Chinese and Hong Kong / Taiwan / Cantonese wording, in and out.

In: before anything reads a message, ``to_mainland`` rewrites it the way the training
data is written: HK/TW/Cantonese words to mainland ones (``zh_variants.tsv``: 唔該 ->
谢谢, 冇 -> 没有, 點樣 -> 怎么, 保固 -> 保修 ...), then, when the message has Traditional
characters, OpenCC's ``tw2sp`` (Traditional to Simplified with Taiwan phrases: 軟體 ->
软件). ``TranscriptNormaliser`` calls it first, so one place in the pipeline does it and
the customer's own words stay in ``original_text`` and in the conversation.

Out: ``detect_script`` tells which script a message was written in (``hant-hk``,
``hant-tw``, ``hant`` or ``hans``; None when nothing tells, as in 你好 or a number), and
``reply_in_script`` converts one of the bot's replies (written in Simplified) into it with
OpenCC (``s2hk``, ``s2twp``, ``s2t``). The component puts the detected script into the
parse result as ``zh_script``; a channel or action converts replies with it.

OpenCC comes from the ``opencc`` package (the OpenCC project's own wheels, Apache-2.0):
its dictionaries are files inside the package, read when a converter is first used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

VARIANTS_FILE = Path(__file__).with_name("zh_variants.tsv")

SIMPLIFIED = "hans"
TRADITIONAL = "hant"
HONG_KONG = "hant-hk"
TAIWAN = "hant-tw"
SCRIPTS = (SIMPLIFIED, TRADITIONAL, HONG_KONG, TAIWAN)
# Where the NLU puts a message's script in its parse result (and so in the tracker's
# ``user`` events' ``parse_data``).
SCRIPT_KEY = "zh_script"
# OpenCC configuration that turns a Simplified reply into each script.
_REPLY_CONVERSION = {TRADITIONAL: "s2t", HONG_KONG: "s2hk", TAIWAN: "s2twp"}

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
# Characters only written Cantonese uses: their presence makes a Traditional message
# Hong Kong's rather than Taiwan's, and 係 in it "is".
_CANTONESE = frozenset("唔冇咗嘅喺哋啲嚟睇搵攞嗰畀佢嘢咩乜噉啱揾")
# 係 meaning "is" (Mandarin writes 係 only in 關係, 聯係, 係數); its simplified spelling
# 系 only in a message with Cantonese in it (系统 is "system").
_IS_TRADITIONAL = re.compile(r"(?<![關联聯])係(?!數)")
_IS_SIMPLIFIED = re.compile(r"(?<![关联體体])系(?![统統列数數])")
# 點/点 before a verb is Cantonese "how" (點改 -> 怎么改), but not after a word that makes
# it "a bit" (一点用都没有, 快点退款).
_A_BIT = frozenset("一快早慢好多少有差")
# Written the same in Hong Kong as in the mainland (Cantonese 晒, "all"): no signal.
_NEUTRAL_CHARS = frozenset("晒")
# 唔 before a word, after the table's phrases: "not" (唔去 -> 不去). Alone, or before a
# pause, it is a filler (a transcript's 唔，我想问) and stays for the normaliser.
_UNBOUND_NOT = re.compile(r"唔(?=[\u4e00-\u9fff])")
# Cantonese V唔到 is "cannot V" (開唔到, 登入唔到 -> 打开不了, 登录不了), except after
# verbs of getting or perceiving, where Mandarin says 不到 too (收唔到, 搵唔到 -> 收不到, 找不到).
_CANNOT = re.compile(r"(?<![收搵找見见睇看聽听買买攞拿等到])唔到")
# Cantonese words with several Mandarin readings, read by rule after the table (which
# has their fixed phrases: 點樣, 點解, 邊度, 乜嘢 ...). Each rule names the Traditional
# glyph only where Mandarin in Traditional characters (Taiwan) uses it differently:
# 點 before a verb is "how" (點申請 -> 怎么申请), but Taiwan taps and clicks with it
# (點選, 點擊, 點開, 點進) and it counts, marks and tells the time after a number or in a
# compound (幾點, 一點, 地點, 重點, 缺點, 點數).
_HOW = re.compile(
    r"(?<![地重優缺特景幾几一兩二三四五六七八九十零半鐘差早快慢好多少有終起據觀焦污斑盲弱要甜])"
    r"點(?![擊選開進入一下擊數心讚鐘名評菜餐滴綴子燃火頭兒半歌播])(?=[\u4e00-\u9fff])"
)
# 咩 is "what" (咩事, 有咩), or at the end of a question "...?" (係咩 -> 是吗).
_WHAT_END = re.compile(r"咩(?=[？?！!。，,\s]|$)")
# 乜 is "what" (乜都冇 -> 什么都没有).
_WHAT = re.compile(r"[咩乜]")
# 邊 is "which/where" (邊張單, 去到邊) except in Mandarin's compounds of "side" and "edge".
_WHICH = re.compile(
    r"(?<![旁這那呢嗰一兩左右身上下外裏裡海周手前後東西南北河路岸床天耳])邊(?![境緣框界沿際])"
)
# 返 after a verb is "back/again" (退返差價, 攞返 -> 退回, 拿回); Mandarin has it only in
# 返回, 往返, 返還, 返現, 返利.
_BACK = re.compile(r"(?<![往])返(?![回還还現现利點点程鄉乡校])")
# 傾 is "to chat" (同真人傾 -> 跟真人聊) outside Mandarin's 傾向, 傾斜, 傾聽 ...
_CHAT = re.compile(r"傾(?![向斜聽听家盆訴诉銷销覆倒注])")
# 緊 (the Traditional glyph) after a verb marks "-ing" (處理緊 -> 处理), and 同 before a
# person is "with" (同客服講 -> 跟客服讲; Mandarin's 同我联系 reads the same with 跟).
# A question's last 未 is "yet?" (寄咗未 -> 寄了没有).
_NOT_YET_END = re.compile(
    r"(?<=[\u4e00-\u9fff])(?<![尚並并從从仍])未(?=[呀啊嗎吗吖啦呢]?(?:[？?！!。，,\s]|$))"
)
_ONGOING = re.compile(r"(?<=[\u4e00-\u9fff])(?<![要抓趕赶收加好太很])緊(?![急張张密貼贴身要])")
_WITH = re.compile(r"(?<![相不共一陪協协])同(?=[我你佢他她真人客職职經经店])")


@lru_cache(maxsize=8)
def _converter(config: str) -> Any:
    """An OpenCC converter, built once per configuration (it reads its dictionaries)."""
    import opencc

    return opencc.OpenCC(config)


@lru_cache(maxsize=4096)
def _char_kind(char: str) -> int:
    """+1 for a Traditional-only character, -1 for a Simplified-only one, 0 for both."""
    if char in _NEUTRAL_CHARS:
        return 0
    if _converter("t2s").convert(char) != char:
        return 1
    if _converter("s2t").convert(char) != char:
        return -1
    return 0


@lru_cache(maxsize=1)
def _variants() -> tuple[re.Pattern[str], dict[str, tuple[str, str]]]:
    """The wording table as one longest-first pattern, with Simplified spellings added:
    each wording maps to (mainland wording, region)."""
    table: dict[str, tuple[str, str]] = {}
    for line in VARIANTS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        variant, mainland, region = (part.strip() for part in line.split("\t"))
        table.setdefault(variant, (mainland, region))
        table.setdefault(_converter("t2s").convert(variant), (mainland, region))
    keys = sorted(table, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, keys))), table


def _regions(text: str) -> set[str]:
    """Where the table's wordings in ``text`` are said (hk, tw)."""
    pattern, table = _variants()
    return {table[m.group(0)][1] for m in pattern.finditer(text)}


def detect_script(text: str) -> str | None:
    """The Chinese script of a message, or None when it has no telling character."""
    kinds = [_char_kind(c) for c in _CJK.findall(text)]
    traditional, simplified = kinds.count(1), kinds.count(-1)
    if traditional == simplified == 0:
        return None
    if simplified >= traditional:
        return SIMPLIFIED
    regions = _regions(text)
    if "hk" in regions or any(c in _CANTONESE for c in text):
        return HONG_KONG
    if "tw" in regions or _converter("tw2sp").convert(text) != _converter("t2s").convert(text):
        return TAIWAN  # a word Taiwan says differently (軟體, 網路, 簡訊)
    return TRADITIONAL


def to_mainland(text: str) -> str:
    """HK/TW/Cantonese wording to mainland wording, Traditional characters to Simplified."""
    if not _CJK.search(text):
        return text
    pattern, table = _variants()
    cantonese = any(c in _CANTONESE for c in text)
    def mainland(match: re.Match[str]) -> str:
        word = match.group(0)
        if word[0] in "點点" and match.start() > 0 and text[match.start() - 1] in _A_BIT:
            return word
        return table[word][0]

    converted = pattern.sub(mainland, text)
    converted = _HOW.sub("怎么", converted)
    converted = _WHAT_END.sub("吗", converted)
    converted = _WHAT.sub("什么", converted)
    converted = _WHICH.sub("哪", converted)
    converted = _BACK.sub("回", converted)
    converted = _CHAT.sub("聊", converted)
    converted = _ONGOING.sub("", converted)
    converted = _WITH.sub("跟", converted)
    converted = _NOT_YET_END.sub("没有", converted)
    converted = _CANNOT.sub("不了", converted)
    converted = _UNBOUND_NOT.sub("不", converted)
    converted = _IS_TRADITIONAL.sub("是", converted)
    if cantonese:
        converted = _IS_SIMPLIFIED.sub("是", converted)
    if any(_char_kind(c) == 1 for c in _CJK.findall(converted)):
        converted = _converter("tw2sp").convert(converted)
    return converted


def reply_in_script(text: str, script: str | None) -> str:
    """One of the bot's (Simplified) replies, in the customer's script.

    ``script`` is a message's ``zh_script`` (or the conversation's last one); None and
    ``hans`` leave the reply as it is. Ticket numbers, times and Latin text pass through.
    """
    config = _REPLY_CONVERSION.get(script or "")
    return _converter(config).convert(text) if config else text


def conversation_script(events: Iterable[Any]) -> str | None:
    """The script of the conversation: the ``zh_script`` of the latest customer message
    that had one (a reply to 好的 or to a phone number stays in the script before it).

    ``events`` are a tracker's events, as Rasa's ``Event`` objects or as dicts (the
    tracker's JSON)."""
    script = None
    for event in events:
        if isinstance(event, dict):
            kind, parse_data = event.get("event"), event.get("parse_data")
        else:
            kind, parse_data = getattr(event, "type_name", None), getattr(event, "parse_data", None)
        told = parse_data.get(SCRIPT_KEY) if isinstance(parse_data, dict) else None
        if kind == "user" and told in SCRIPTS:
            script = told
    return script
