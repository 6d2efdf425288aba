"""Recognise contacts, ticket numbers, order numbers and ratings in what a customer typed."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"(?<![\w.+-])([\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
# Mainland mobile numbers, optionally with +86 and with spaces or dashes between digits
# ("139 1234 5678", "+86 138-0013-8000").
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d(?:[\s-]?\d){8})(?!\d)")
_TICKET = re.compile(r"(?i)(?<![a-z0-9])sd[\s-]?(\d{6,9})(?!\d)")
# The shop's own orders are DD + 10 digits, and DD + up to 14 where a day's sequence
# number outgrew four digits; marketplace orders are runs of 12-20 digits, sometimes in
# dash-separated groups as the marketplace prints them (Amazon: 112-4837261-5573920).
_ORDER = re.compile(r"(?i)(?<![a-z0-9])dd[\s-]?(\d{10,14})(?!\d)")
_LONG_ORDER = re.compile(r"(?<![\d+-])(\d{12,20})(?!\d)")
_GROUPED_ORDER = re.compile(r"(?<![\d+-])(\d{3,8}(?:-\d{3,8}){1,3})(?![\d-])")
# A rating in digits: "5", "4 stars", "3/5", "4分", "5星", "10/10".
_RATING_DIGITS = re.compile(
    r"(?i)(?<![\d.])(10|[1-5])\s*(?:(?:/|out of)\s*(5|10)|stars?|星|颗星|分)?(?![\d.])"
)
# Ratings in words, most specific first ("非常不满意" before "满意").
_RATING_WORDS: tuple[tuple[str, int], ...] = (
    ("非常不满意", 1), ("很不满意", 1), ("极差", 1), ("terrible", 1), ("very poor", 1),
    ("very dissatisfied", 1), ("awful", 1), ("不满意", 2), ("差评", 2), ("太差", 1),
    ("not satisfied", 2), ("dissatisfied", 2), ("poor", 2), ("一般", 3), ("还行", 3),
    ("average", 3), ("so-so", 3), ("meh", 3), ("ok", 3), ("非常满意", 5), ("很满意", 5),
    ("满分", 5), ("好评", 5), ("full marks", 5), ("top marks", 5), ("excellent", 5),
    ("fantastic", 5), ("very satisfied", 5), ("very pleased", 5), ("满意", 4),
    ("satisfied", 4), ("good", 4), ("happy", 4), ("pleased", 4),
)
_CHINESE_STARS = {"一": 1, "两": 2, "兩": 2, "二": 2, "三": 3, "四": 4, "五": 5}
# "五星", "两颗星", Cantonese "五粒星", "三個星".
_CHINESE_RATING = re.compile(r"([一两兩二三四五])\s*(?:[颗顆粒个個])?\s*[星分]")
_ENGLISH_STARS = re.compile(
    r"(?i)\b(one|two|three|four|five)(?:\s+stars?\b|\s+out\s+of\s+(?:five|5)\b)"
)
_ENGLISH_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}


# A name the customer gives for themselves: "我叫赵磊", "my name is Grace Lee", "Grace Lee
# here", "this is Tom". Only these explicit forms ("我是在你们店买的" is no name).
_NAME_ZH = re.compile(
    r"(?:我叫|我的名字[是叫]|姓名[:：\s]*)([\u4e00-\u9fff]{2,4}?)"
    r"(?=[，,。.\s、；;！!]|手机|電話|电话|$)"
)
_NAME_EN = re.compile(
    r"(?:\bmy name is|\bthis is|\bname:)\s+([A-Z][a-z]+(?: [A-Z][a-z]+)?)\b"
    r"|^(?:[Hh]i|[Hh]ello|[Hh]ey)?[,\s]*([A-Z][a-z]+ [A-Z][a-z]+) here\b"
)


def parse_name(text: str) -> str | None:
    """The name the customer introduces themselves with in ``text``, or None."""
    zh = _NAME_ZH.search(text)
    if zh:
        return zh.group(1)
    en = _NAME_EN.search(text.strip())
    if en:
        return en.group(1) or en.group(2)
    return None


def parse_contact(text: str) -> str | None:
    """Return the e-mail address or 11-digit mobile number in ``text``, or None."""
    email = _EMAIL.search(text)
    if email:
        return email.group(1).lower()
    mobile = _MOBILE.search(text)
    if mobile:
        return re.sub(r"\D", "", mobile.group(1))
    return None


def parse_phone(text: str) -> str | None:
    """The 11-digit mainland mobile number in ``text``, or None."""
    mobile = _MOBILE.search(text)
    return re.sub(r"\D", "", mobile.group(1)) if mobile else None


def parse_email(text: str) -> str | None:
    """The e-mail address in ``text`` (lower case), or None."""
    email = _EMAIL.search(text)
    return email.group(1).lower() if email else None


def is_email(contact: str) -> bool:
    """Whether a parsed contact is an e-mail address (otherwise it is a phone number)."""
    return "@" in contact


def parse_ticket_number(text: str) -> str | None:
    """Return the ticket number in ``text`` in its canonical form ``SD-100001``, or None."""
    match = _TICKET.search(text)
    return f"SD-{match.group(1)}" if match else None


def parse_order_number(text: str) -> str | None:
    """Return the order number in ``text``, or None: ``DD`` + 10-14 digits (canonical
    ``DD2026112001``), a marketplace's 12-20 digits, or its dash-separated groups of
    12-20 digits in all (kept as printed, ``112-4837261-5573920``)."""
    match = _ORDER.search(text)
    if match:
        return f"DD{match.group(1)}"
    long_number = _LONG_ORDER.search(text)
    if long_number:
        return long_number.group(1)
    for grouped in _GROUPED_ORDER.finditer(text):
        if 12 <= len(grouped.group(1).replace("-", "")) <= 20:
            return grouped.group(1)
    return None


# Digits read out, as a phone call's transcript (or a customer typing what they would
# say) has them: "D D two oh two six ...", "one three nine double two", "幺三八 零零幺三".
_EN_DIGIT_WORDS = {
    "zero": "0", "nought": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
_EN_REPEATS = {"double": 2, "triple": 3, "treble": 3}
_EN_TOKEN = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]+|\s+")
_ZH_DIGITS = str.maketrans("零〇幺一二两兩三四五六七八九", "00112223456789")
_ZH_DIGIT = "[零〇幺一二两兩三四五六七八九]"
_ZH_DIGIT_RUN = re.compile(rf"{_ZH_DIGIT}(?:\s*{_ZH_DIGIT}){{2,}}")
# Spaces or dashes between digit groups, and a spelled-out "D D" before them.
_DIGIT_GAP = re.compile(r"(?<=\d)[\s-]+(?=\d)")
_SPELLED_PREFIX = re.compile(r"(?i)(?<![a-z])([ds])[\s.-]*d[\s.-]*(?=\d)")


def read_out_digits(text: str) -> str:
    """``text`` with digits that were read out written as digits and the groups of a
    number joined ("D D two oh two six one one" -> "DD202611", "S D 1 0 0 ..." ->
    "SD100..."); only for an answer to a
    question that asked for a number, where "oh" can only be zero."""
    text = _ZH_DIGIT_RUN.sub(lambda m: re.sub(r"\s", "", m.group(0)).translate(_ZH_DIGITS), text)
    out: list[str] = []
    run: list[str] = []
    pending_repeat = 1
    for token in _EN_TOKEN.findall(text):
        word = token.lower()
        if word in _EN_REPEATS:
            pending_repeat = _EN_REPEATS[word]
            continue
        if word in _EN_DIGIT_WORDS or token.isdigit():
            digit = _EN_DIGIT_WORDS.get(word, token)
            run.append(digit * pending_repeat)
            pending_repeat = 1
            continue
        if token.isspace() or token in {",", "-"}:
            if not run:
                out.append(token)
            continue
        if run:
            out.append("".join(run) + " ")
            run = []
        pending_repeat = 1
        out.append(token)
    if run:
        out.append("".join(run))
    joined = "".join(out)
    return _SPELLED_PREFIX.sub(
        lambda m: m.group(1).upper() + "D", _DIGIT_GAP.sub("", joined)
    )


def parse_rating(text: str) -> int | None:
    """Return the 1-5 rating a customer gave in ``text`` (digits, stars or words), or None.

    Out of ten is halved and rounded up ("8/10" -> 4).
    """
    # Ticket and order numbers are digits too, but never a rating.
    lowered = _LONG_ORDER.sub(" ", _ORDER.sub(" ", _TICKET.sub(" ", text))).lower()
    english = _ENGLISH_STARS.search(lowered)
    if english:
        return _ENGLISH_NUMBERS[english.group(1)]
    chinese = _CHINESE_RATING.search(lowered)
    if chinese:
        return _CHINESE_STARS[chinese.group(1)]
    digits = _RATING_DIGITS.search(lowered)
    if digits:
        score, scale = int(digits.group(1)), digits.group(2)
        if score == 10 or scale == "10":
            score = min(5, max(1, -(-score // 2)))
        return score if 1 <= score <= 5 else None
    for word, score in _RATING_WORDS:
        if re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", lowered):
            return score
    return None
