"""Rewrites transcribed speech so that it reads like typed chat before the NLU sees it.

The voice and WeChat-voice channels hand us ASR transcripts: fillers (嗯, 呃, um, uh),
stutters (我我我的, "my my internet"), no punctuation, and numbers spoken as words or
digit by digit (幺三八零零一三八零零零, "one three eight double oh ..."). Ticket, phone and
order numbers only match the desk's regexes when they come out as digits, so this
component runs first in the pipeline.

Two strengths:

* typed chat (the default): only rewrites that cannot change what a customer meant —
  pure fillers (呃, um, uh), stutters of three or more, obvious pronoun stutters
  (我我的), Chinese numbers of two or more characters (两百 -> 200, 二零二六年 ->
  2026年), long digit-by-digit readings, full-width digits, ``SD 100001`` ->
  ``SD-100001`` and ``138 0013 8000`` -> ``13800138000``.
* ``metadata["transcript"]`` true (set by the voice channels): also 嗯/啊/额 and
  hesitation 那个/这个, "you know" and "like" as fillers, every repeated word or short
  phrase, English number words ("a hundred and twenty", "double five", "oh" for zero
  in a digit run), single Chinese digits before date, time and money units, spoken
  e-mail addresses, and punctuation: pauses between Chinese clauses become "，" and a
  sentence of several words gets a final "。"/"." or "？"/"?".

Before all of that, in both strengths, Traditional characters and Hong Kong, Taiwan and
Cantonese wording become the Simplified, mainland wording the training data is written in
(``bot.nlu.script.to_mainland``: 點樣查訂單 -> 怎么查订单), and the script the customer
wrote in goes into the parse result as ``zh_script`` (``hans``, ``hant``, ``hant-hk``,
``hant-tw``; absent when the message does not tell) so that replies can be written in it
(``bot.nlu.script.reply_in_script``).

A message made only of fillers ("嗯", "um") is left as it is: on its own 嗯 means yes.
When the text changes, the original is kept in the message (and in ``/model/parse``
output) as ``original_text``; Rasa's ``UserUttered`` event, and so the transcript that
agents read, keeps the customer's own words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.script import SCRIPT_KEY, detect_script, to_mainland

ORIGINAL_TEXT = "original_text"
SCRIPT = SCRIPT_KEY
TRANSCRIPT_FLAG = "transcript"

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_CN_DIGIT_VALUES = {
    "零": "0", "〇": "0", "洞": "0", "幺": "1", "一": "1", "二": "2", "两": "2", "三": "3",
    "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
}
_CN_DIGITS = "零〇幺一二两三四五六七八九"
_CN_UNITS = "十百千万亿"
_CN_NUMERAL_RUN = re.compile(f"[{_CN_DIGITS}{_CN_UNITS}]+")
# Spoken-digit words in English. "oh"/"o" are zero only inside a run of digits.
_EN_DIGITS = {
    "zero": "0", "nought": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
_EN_REPEAT = {"double": 2, "triple": 3, "treble": 3}
_EN_NUMBER_WORDS = set(_EN_DIGITS) | set(_EN_REPEAT) | {
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
    "eighty", "ninety", "hundred", "thousand", "million",
}

# Placeholders for spans no rule may touch (e-mails, URLs). Private-use characters,
# no digits or letters, so no number or filler rule can match inside them.
_PROTECT_OPEN, _PROTECT_CLOSE = "\ue000", "\ue001"
_PROTECTED = re.compile(
    r"(?i)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}|https?://\S+|www\.\S+"
)
_PLACEHOLDER = re.compile(f"{_PROTECT_OPEN}([\ue100-\ue8ff]){_PROTECT_CLOSE}")

_FULLWIDTH = str.maketrans(
    {chr(0xFF10 + i): str(i) for i in range(10)}
    | {chr(0xFF21 + i): chr(0x41 + i) for i in range(26)}
    | {chr(0xFF41 + i): chr(0x61 + i) for i in range(26)}
    | {"\u3000": " ", "＠": "@", "－": "-"}
)

# Characters whose doubling is a stutter, never a word: 我我的 -> 我的, 那那个 -> 那个.
_STUTTER_PRONE_ZH = "我你他她它这那就在要"
# Characters that are words when doubled (谢谢, 哈哈, 看看): three or more collapse to two.
_REDUPLICATING_ZH = "谢哈呵嘿嘻看试等刚常慢好妈爸哥姐弟妹宝天快想问说听聊查帮"
_LAUGHTER = "哈呵嘿嘻"
_PUNCT_ZH = "，。！？、；：,.!?;:…~"

# English words that are grammatical when doubled ("I know that that is wrong").
_EN_DOUBLE_OK = {"that", "had", "bye", "very", "really", "so", "ha", "no", "yeah", "is", "do"}
_EN_FILLERS_ALWAYS = r"u+m+|u+h+m*|e+r+m+|h+m+|h+m+m+"
_EN_FILLERS_TRANSCRIPT = r"e+r+|a+h+|mm+"
_EN_QUESTION_START = re.compile(
    r"(?i)^(what|where|when|why|how|who|whom|whose|which|can|could|would|will|do|does|did|is|"
    r"are|was|were|should|may|might|have|has|shall|am|isn't|aren't|don't|doesn't|didn't|won't|"
    r"can't|couldn't)\b"
)
_ZH_QUESTION = re.compile(
    r"(吗|呢|么|吧|嘛)$|什么|怎么|为什么|为啥|多少|哪|几时|几点|几天|是否|能不能|可不可以|有没有|是不是|会不会|要不要|对不对"
)

# Single Chinese digits become digits only before these (transcript mode), so
# 一下, 一起, 统一, 第一 stay words.
_SINGLE_DIGIT_UNITS = ("个月", "月", "号", "日", "元", "块", "分钟", "小时", "周年", "楼", "层")
_TIME_OF_DAY = (
    "上午", "下午", "晚上", "早上", "中午", "凌晨", "傍晚", "今天", "明天", "后天",
    "昨天", "前天", "今晚", "明晚", "昨晚", "今早", "明早", "早", "晚", "天", "日", "号",
)
_AFTER_HOUR = re.compile(r"^(半|钟|整|一刻|三刻|[0-9零〇一二两三四五六七八九十]+分)")
# Numeral runs that are words, not numbers.
_NUMERAL_IDIOMS = ("一五一十", "十全十美", "十有八九", "百分之百", "百分百", "千千万万", "三三两两",
                   "七七八八", "一一", "万一", "千万", "一心一意", "一模一样", "九九")
_DECIMAL_UNITS = re.compile(r"^(元|块|米|公斤|斤|倍|GB|G|M|兆|%|个百分点|折)")


def _protect(text: str) -> tuple[str, list[str]]:
    """Replace e-mails and URLs by placeholders no rule can touch."""
    saved: list[str] = []

    def keep(match: re.Match[str]) -> str:
        saved.append(match.group(0))
        return f"{_PROTECT_OPEN}{chr(0xE100 + len(saved) - 1)}{_PROTECT_CLOSE}"

    return _PROTECTED.sub(keep, text), saved


def _restore(text: str, saved: list[str]) -> str:
    """Put the protected spans back."""
    return _PLACEHOLDER.sub(lambda m: saved[ord(m.group(1)) - 0xE100], text)


def _cn_to_number(run: str) -> str | None:
    """Value of a positional Chinese numeral (两百, 一百二十, 三千五), or None."""
    import cn2an

    try:
        value = cn2an.cn2an(run, "normal")
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if isinstance(value, float):
        return None if not value.is_integer() else str(int(value))
    return str(value)


def _digit_reading(run: str) -> str:
    """幺三八零 -> 1380: each character read as one digit."""
    return "".join(_CN_DIGIT_VALUES[c] for c in run)


def _is_cn_digit_only(run: str) -> bool:
    return all(c in _CN_DIGITS for c in run)


def _idiom_spans(text: str) -> list[tuple[int, int]]:
    """Where numeral idioms (一五一十, 万一, 千万) sit in the text."""
    spans = []
    for idiom in _NUMERAL_IDIOMS:
        spans.extend((m.start(), m.end()) for m in re.finditer(re.escape(idiom), text))
    return spans


def _convert_chinese_numbers(text: str, transcript: bool) -> str:
    """Chinese numerals to Arabic digits where they are numbers, not words."""
    if transcript:
        # A pause inside a spoken number ("幺三八 零零一三 八零零零") is not a boundary.
        text = re.sub(f"(?<=[{_CN_DIGITS}])[ \t，,、]+(?=[{_CN_DIGITS}])", "", text)

    def percent(match: re.Match[str]) -> str:
        value = _cn_to_number(match.group(1))
        return f"{value}%" if value is not None else match.group(0)

    text = re.sub(f"百分之([{_CN_DIGITS}{_CN_UNITS}]+)", percent, text)  # 百分之五十 -> 50%
    idioms = _idiom_spans(text)
    out: list[str] = []
    position = 0
    for match in _CN_NUMERAL_RUN.finditer(text):
        start, end = match.start(), match.end()
        if any(s < end and start < e for s, e in idioms):
            continue
        replacement = _convert_run(match.group(0), text[:start], text[end:], transcript)
        if replacement is not None:
            out.append(text[position:start])
            out.append(replacement)
            position = end
    out.append(text[position:])
    return "".join(out)


def _convert_run(run: str, before: str, after: str, transcript: bool) -> str | None:
    """The digits for one run of numeral characters, or None to keep the characters."""
    if run[0] in "百千万亿":
        return None  # 千万 (by all means), 万一 (in case), 百货: not numbers
    if _is_cn_digit_only(run):
        if len(run) >= 3:
            return _digit_reading(run)  # 幺三八零零一三八零零零, 二零二六
        if len(run) == 2:
            # 三四个 is "three or four": only a year reading is safe.
            return _digit_reading(run) if after.startswith("年") and transcript else None
        return _single_digit(run, before, after) if transcript else None
    # Positional numeral: 十一, 两百, 一百二十, 三千五.
    if len(run) == 1:  # a lone 十
        return _single_digit(run, before, after) if transcript else None
    return _cn_to_number(run)


def _single_digit(run: str, before: str, after: str) -> str | None:
    """A single numeral character, converted only before a date, time or money unit."""
    value = _cn_to_number(run) if run == "十" else _CN_DIGIT_VALUES.get(run)
    if value is None:
        return None
    if after.startswith(_SINGLE_DIGIT_UNITS):
        return value
    if after.startswith("点"):
        rest = after[1:]
        if before.endswith(_TIME_OF_DAY) or _AFTER_HOUR.match(rest) or run != "一":
            # 三点 is a time; 一点 alone is "a little" unless the context says time.
            return value
        return None
    if after.startswith("分") and re.search(f"[0-9{_CN_DIGITS}十]点$", before):
        return value  # 3点十分
    return None


def _convert_chinese_decimals(text: str) -> str:
    """九十九点九元 -> 99.9元 (only before a unit: 三点五 alone may be a time)."""

    def repl(match: re.Match[str]) -> str:
        whole, frac, unit = match.group(1), match.group(2), match.group(3)
        whole_digits = whole if whole.isdigit() else _cn_to_number(whole)
        if whole_digits is None:
            return match.group(0)
        frac_digits = frac if frac.isdigit() else _digit_reading(frac)
        return f"{whole_digits}.{frac_digits}{unit}"

    return re.sub(
        f"([0-9]+|[{_CN_DIGITS}{_CN_UNITS}]+)点([0-9]+|[{_CN_DIGITS}]+)(元|块|米|公斤|斤|倍|GB|G|兆|%|折)",
        repl,
        text,
    )


_EN_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[0-9]+|[^\sA-Za-z0-9]")


def _convert_english_digit_runs(text: str, transcript: bool) -> str:
    """Spoken digit runs ("one three eight double oh five") to digits."""
    words = list(re.finditer(r"[A-Za-z]+|,", text))
    out: list[str] = []
    position = 0
    i = 0
    while i < len(words):
        run_end, digits, has_repeat, has_oh, j = _scan_digit_run(words, i, text, transcript)
        # Typed: four digit words at least ("one two three four"); transcripts: three,
        # or two with "double"/"triple".
        enough = len(digits) >= (3 if transcript else 4) or (
            transcript and has_repeat and len(digits) >= 2
        )
        if has_oh and len(digits) < 3:
            enough = False
        if not transcript and (has_repeat or has_oh):
            enough = False
        if j > i and enough:
            start = words[i].start()
            out.append(text[position:start])
            out.append(digits)
            position = run_end
            i = j
        else:
            i += 1
    out.append(text[position:])
    return "".join(out)


def _scan_digit_run(
    words: list[re.Match[str]], i: int, text: str, transcript: bool
) -> tuple[int, str, bool, bool, int]:
    """Longest run of digit words from words[i]: (end offset, digits, repeat?, oh?, next index)."""
    digits, has_repeat, has_oh = "", False, False
    j, end = i, words[i].start()
    while j < len(words):
        word = words[j].group(0).lower()
        gap = text[end : words[j].start()]
        if j > i and not re.fullmatch(r"[ \t-]*", gap):
            break
        if word == ",":
            # A comma is a pause inside a spoken number only in transcripts, and only
            # when digits follow it.
            if not transcript or not digits or j + 1 >= len(words):
                break
            nxt = words[j + 1].group(0).lower()
            if nxt not in _EN_DIGITS and nxt not in _EN_REPEAT:
                break
            end = words[j].end()
            j += 1
            continue
        if word in _EN_REPEAT and j + 1 < len(words):
            nxt = words[j + 1].group(0).lower()
            between = text[words[j].end() : words[j + 1].start()]
            if nxt in _EN_DIGITS and re.fullmatch(r"[ \t-]*", between):
                digits += _EN_DIGITS[nxt] * _EN_REPEAT[word]
                has_repeat = True
                has_oh = has_oh or nxt in {"oh", "o"}
                end = words[j + 1].end()
                j += 2
                continue
            break
        if word in _EN_DIGITS:
            if word in {"oh", "o"}:
                has_oh = True
            digits += _EN_DIGITS[word]
            end = words[j].end()
            j += 1
            continue
        break
    # A trailing comma is not part of the number.
    return end, digits, has_repeat, has_oh, j


def _convert_english_number_words(text: str) -> str:
    """Compound English numbers ("a hundred and twenty", "twenty five") to digits."""
    from text_to_num import alpha2digit

    text = re.sub(r"(?i)\ba (hundred|thousand|million)\b", r"one \1", text)
    # alpha2digit works on Latin text; run it on each Latin stretch so Chinese is untouched.
    return re.sub(
        r"[A-Za-z][A-Za-z0-9' -]*[A-Za-z0-9]|[A-Za-z]",
        lambda m: alpha2digit(m.group(0), "en"),
        text,
    )


def _canonical_codes(text: str) -> str:
    """Ticket and order numbers in their written form; mobile numbers without spaces."""
    # s d 100001 / SD 100001 / sd-100001 -> SD-100001
    text = re.sub(
        r"(?i)(?<![A-Za-z0-9])(?:s\s*\.?\s*d|es\s+dee)\s*\.?\s*[-#:]?\s*(\d{6})(?!\d)",
        lambda m: f"SD-{m.group(1)}",
        text,
    )
    # d d 2611240001 / dd-2611240001 -> DD2611240001
    text = re.sub(
        r"(?i)(?<![A-Za-z0-9])(?:d\s*\.?\s*d|dee\s+dee)\s*\.?\s*[-#:]?\s*(\d{10})(?!\d)",
        lambda m: f"DD{m.group(1)}",
        text,
    )
    # 138 0013 8000 / 138-0013-8000 -> 13800138000
    return re.sub(
        r"(?<![\d-])(1[3-9]\d)[ -](\d{4})[ -](\d{4})(?![\d-])",
        lambda m: "".join(m.groups()),
        text,
    )


def _remove_chinese_fillers(text: str, transcript: bool) -> str:
    """呃 and hesitation 那个/这个 always; 嗯, 啊, 额, 唔 in transcripts."""
    boundary = f"(?:^|(?<=[\\s{_PUNCT_ZH}]))"
    pause = "[，,、\\s]*"
    hesitation = "(?:那个|这个)"
    # 那个/这个 is a hesitation when doubled, before a filler, or where no noun can
    # follow a determiner: before a pronoun at the start of a clause or after 请问 /
    # 问一下. Anywhere else it is "that/this" (那个订单, 我要这个) and stays.
    text = re.sub(f"(那个|这个){pause}(?=\\1)", "", text)
    text = re.sub(f"{hesitation}{pause}(?=呃|嗯|额)", "", text)
    text = re.sub(f"呃+{pause}", "", text)
    if transcript:
        text = re.sub(f"嗯+{pause}", "", text)
        text = re.sub(f"{boundary}(?:啊|唔|额)+(?![度外定头])[，,、\\s]*", "", text)
        text = re.sub("啊{2,}", "", text)
    # Typed text: only at the very start ("那个我想问"); mid-sentence "，那个我不要" may be
    # "that one I don't want". Transcripts have no reliable commas, so any clause start.
    clause = "(?<=[\\s，,、。！？!?])|" if transcript else ""
    after = f"(?:^|{clause}(?<=请问)|(?<=问一下)|(?<=问下)|(?<=就是))"
    text = re.sub(f"{after}{hesitation}{pause}(?=我|你|他|她|咱|就是)", "", text)
    if transcript:
        # A clause that opens with 那个 and a pause: "那个 我想问".
        text = re.sub(f"{boundary}{hesitation}[，,、\\s]+", "", text)
    return text


def _remove_english_fillers(text: str, transcript: bool) -> str:
    """um/uh always; er, ah, "you know" and "like" as fillers in transcripts."""
    fillers = _EN_FILLERS_ALWAYS + ("|" + _EN_FILLERS_TRANSCRIPT if transcript else "")
    # uh-huh and mm-hmm mean yes: never fillers.
    text = re.sub(rf"(?i)\b(?:{fillers})\b(?![-\s]*(?:huh|hmm)\b)[,.]?\s*", "", text)
    if transcript:
        # "you know" is a filler unless it has a subject-auxiliary before it ("do you
        # know", "if you know") or an object after it ("you know my order number").
        text = re.sub(
            r"(?i)(?<!\bdo )(?<!\bdid )(?<!\bif )(?<!\bas )(?<!\bwould )(?<!\bcould )"
            r"(?<!\bdon't )(?<!\bdo you )\byou know\b,?\s*"
            r"(?!what|how|where|when|why|who|if|whether|that|my|the|your|about|him|her|it|them)",
            "",
            text,
        )
    # "like" next to another filler or between pauses; never the verb or preposition.
    text = re.sub(r"(?i)(?:^|(?<=,\s))like,\s*", "", text)
    text = re.sub(r"(?i),\s*like,\s*", ", ", text)
    text = re.sub(r"(?i)\blike\s+(?=like\b)", "", text)
    return text


def _collapse_chinese_stutter(text: str, transcript: bool) -> str:
    """我我我的 -> 我的, 谢谢谢谢 -> 谢谢, and in transcripts 宽带宽带 -> 宽带."""

    def triple(match: re.Match[str]) -> str:
        char = match.group(1)
        if char in _CN_DIGITS or char in _CN_UNITS:
            return match.group(0)
        return char * 2 if char in _REDUPLICATING_ZH else char

    text = re.sub(f"([{_CJK}])\\1{{2,}}", triple, text)
    text = re.sub(f"([{_STUTTER_PRONE_ZH}])\\1+", r"\1", text)
    if transcript:

        def phrase(match: re.Match[str]) -> str:
            unit = match.group(1)
            if any(c in _CN_DIGITS or c in _CN_UNITS or c in _LAUGHTER for c in unit):
                return match.group(0)
            return unit

        text = re.sub(f"([{_CJK}]{{2,4}})(?:[，,\\s]*\\1)+", phrase, text)
    return text


def _collapse_english_stutter(text: str, transcript: bool) -> str:
    """ "my my my internet" -> "my internet"; in transcripts "I want I want to" too."""

    def repl(match: re.Match[str]) -> str:
        phrase = match.group(1)
        words = phrase.lower().split()
        # Digits, number words and spelled letters ("s d", "d d") repeat on purpose.
        if any(w in _EN_NUMBER_WORDS or w.isdigit() or (len(w) == 1 and w != "i") for w in words):
            return match.group(0)
        repeats = len(re.findall(re.escape(phrase), match.group(0), flags=re.IGNORECASE))
        if len(words) == 1 and words[0] in _EN_DOUBLE_OK and repeats < 3:
            return match.group(0)
        if not transcript and (repeats < 3 or len(words) > 1):
            return match.group(0)
        return phrase

    return re.sub(r"(?i)\b([A-Za-z']+(?:\s+[A-Za-z']+){0,2})(?:,?\s+\1\b)+", repl, text)


_DOTS = re.compile(r"(?i)\s+dot\s+")


def _spoken_emails(text: str) -> str:
    """ "sam at example dot com" -> "sam@example.com" (transcripts only)."""
    return re.sub(
        r"(?i)\b([a-z0-9][a-z0-9._-]*)\s+at\s+([a-z0-9-]+(?:\s+dot\s+[a-z0-9-]+)*)\s+dot\s+"
        r"(com|cn|net|org|edu|io|co)\b",
        lambda m: f"{m.group(1)}@{_DOTS.sub('.', m.group(2))}.{m.group(3)}".lower(),
        text,
    )


def _punctuate(text: str) -> str:
    """Clause commas between Chinese phrases and a final mark on sentences of several words."""
    text = re.sub(f"(?<=[{_CJK}])[ \t]+(?=[{_CJK}])", "，", text)
    cjk = len(_CJK_CHAR.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    if re.search(f"[{re.escape(_PUNCT_ZH)}]$", text) or text.endswith(_PROTECT_CLOSE):
        pass
    elif cjk >= latin_words and cjk >= 6:
        text += "？" if _ZH_QUESTION.search(text) else "。"
    elif latin_words > cjk and latin_words >= 4:
        text += "?" if _EN_QUESTION_START.match(text) else "."
    if latin_words > cjk:
        # The pronoun only: casing means nothing to the featurizers (they lowercase),
        # but agents read the normalised text too.
        text = re.sub(r"(?<![\w@.])i(?=\s|'(?:m|ve|ll|d)\b|$)", "I", text)
    return text


def _tidy(text: str) -> str:
    """Whitespace and punctuation left over after removals."""
    text = re.sub(r"[ \t\r\n]+", " ", text)
    text = re.sub(r" +([，。！？、；：,.!?;:])", r"\1", text)
    text = re.sub(r"([，,、])(?:\s*[，,、])+", r"\1", text)
    text = re.sub(f"^[\\s{re.escape('，,、。.;；')}]+", "", text)
    text = re.sub(r"(?<=[，。！？、])\s+(?=[" + _CJK + "])", "", text)
    return text.strip()


def normalise(text: str, transcript: bool = False) -> str:
    """Return ``text`` rewritten to read like typed chat (see the module docstring)."""
    if not text or not text.strip():
        return text
    original = text
    text, saved = _protect(text.translate(_FULLWIDTH))
    steps: list[Callable[[str], str]] = [
        to_mainland,
        lambda t: _remove_chinese_fillers(t, transcript),
        lambda t: _remove_english_fillers(t, transcript),
        lambda t: _collapse_chinese_stutter(t, transcript),
        lambda t: _collapse_english_stutter(t, transcript),
        lambda t: _convert_chinese_numbers(t, transcript),
        _convert_chinese_decimals,
        lambda t: _convert_english_digit_runs(t, transcript),
    ]
    if transcript:
        steps += [_convert_english_number_words, _spoken_emails]
    steps += [_canonical_codes, _tidy]
    if transcript:
        steps.append(_punctuate)
    for step in steps:
        text = step(text)
    text = _restore(text, saved)
    if not re.search(f"[{_CJK}A-Za-z0-9]", text):
        # Only fillers ("嗯", "um"): they carry the message (嗯 = yes). Keep it.
        return original.strip()
    return text


def is_transcript(message: Message) -> bool:
    """Whether the channel marked the message as an ASR transcript."""
    metadata = message.get(METADATA) or {}
    if not isinstance(metadata, dict):
        return False
    flag = metadata.get(TRANSCRIPT_FLAG)
    if isinstance(flag, str):
        return flag.strip().lower() in {"1", "true", "yes"}
    return flag is True or flag == 1


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class TranscriptNormaliser(GraphComponent):
    """First in the pipeline: makes transcripts (and sloppy typing) read like typed chat."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """``force_transcript`` treats every message as a transcript (for a voice-only bot)."""
        return {"force_transcript": False}

    def __init__(self, config: dict[str, Any]) -> None:
        """Keep the configuration."""
        self._force = bool(config.get("force_transcript", False))

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TranscriptNormaliser:
        """Create the component."""
        return cls(config)

    @staticmethod
    def supported_languages() -> list[str] | None:
        """Chinese, English and mixed."""
        return None

    @staticmethod
    def required_packages() -> list[str]:
        """Number conversion libraries and OpenCC.

        Rasa checks these names both as imports and as distributions; text2num's import
        name (``text_to_num``) differs from its distribution name, so only cn2an and
        opencc are listed (text2num is pinned in requirements/bot.lock all the same).
        """
        return ["cn2an", "opencc"]

    def process(self, messages: list[Message]) -> list[Message]:
        """Rewrite each message's text; keep the original under ``original_text`` and
        the script it was written in under ``zh_script``."""
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text:
                continue
            script = detect_script(text)
            if script is not None:
                message.set(SCRIPT, script, add_to_output=True)
            normalised = normalise(text, transcript=self._force or is_transcript(message))
            if normalised != text:
                message.set(ORIGINAL_TEXT, text, add_to_output=True)
                message.set(TEXT, normalised)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Normalise typed training examples the way typed messages are normalised at runtime.

        Examples with annotated entities are left alone: their offsets point into the
        text as written.
        """
        for example in training_data.training_examples:
            text = example.get(TEXT)
            if not isinstance(text, str) or not text or example.get(ENTITIES):
                continue
            normalised = normalise(text, transcript=is_transcript(example))
            if normalised != text:
                example.set(TEXT, normalised)
        return training_data
