"""Personal names in free text, Chinese and English.

Phone numbers and e-mail addresses have a shape; names do not, so a name is found by
what comes around it, or because the desk already knows it:

- **Introductions**: "我叫李雷", "我的名字是…", "姓名：王芳", "联系人：陈小明" (Simplified and
  Traditional), "my name is Sam Taylor", "name: …", "contact person: …", "call me …";
  a Chinese name there must start with a known surname (single or compound) and has
  one or two given characters, an English one is one to three words that stop at a
  word no name is ("and", "my", "phone" …).
- **Weaker cues**, where a name must look like one: "我是李雷，" (a surname, then the
  end of the phrase), "I'm Sam Taylor", "this is Sam", a sign-off ("Regards, Sam
  Taylor"), "Mr Zhang" (capitalised words that are not common words).
- **The customer's own name** from the profile, wherever it appears: the full name,
  the given name of a Chinese name of three characters or more, each part of an
  English name of three letters or more (whole words, any case).

Masking keeps what the profile's mask keeps: a Chinese surname (``李*``), the initial
of each English word (``S*** T***``); a given name found alone is masked whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The common single-character surnames (Simplified, then Traditional forms that differ).
_SINGLE_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛"
    "郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦"
    "俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房"
    "滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应"
    "臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁"
    "胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰"
    "支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊乌母裘亓修邰赫杭况那宿鲜印"
    "逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧赖"
    "陳張劉黃趙吳孫馬鄭謝許韓馮鄧蕭葉蘇呂盧蔣賈鍾譚陸範廖賴羅鄒龔嚴錢湯薛閻萬楊歐聶溫顏莊魯"
    "齊喬龐關藍寧紀畢單裴駱鮑饒繆車項婁竇衛師欒鞏鄺談匡鄢樓闕鄔閔邊"
)
_COMPOUND_SURNAMES = _words(
    "欧阳 歐陽 司马 司馬 上官 诸葛 諸葛 东方 東方 皇甫 尉迟 尉遲 公孙 公孫 慕容 长孙 長孫 宇文 "
    "司徒 夏侯 令狐 端木 独孤 獨孤 南宫 南宮 西门 西門 轩辕 軒轅 呼延 钟离 鍾離 赫连 赫連 淳于 "
    "百里 东郭 東郭 司空 拓跋"
)
# Characters that are not part of a given name: particles, pronouns, and the words that
# follow a name in a sentence ("我叫李雷想问…", "我叫王芳电话…").
_NOT_IN_GIVEN_NAME = frozenset(
    "的了是在我你他她它们們想要请請问問电電话話手机機号號码碼邮郵箱和与與及跟从從到给給被把也都还還就"
    "才又很吗嗎呢吧啊呀哦嗯喔哈嘛今昨后後来來去说說讲講找打联聯系繫"
)
_HAN = "\u4e00-\u9fff"
_SURNAME = (
    "(?:" + "|".join(sorted(_COMPOUND_SURNAMES)) + "|[" + "".join(sorted(_SINGLE_SURNAMES)) + "])"
)
_GIVEN = "[" + _HAN + "]"
_CHINESE_NAME = f"{_SURNAME}{_GIVEN}{{1,2}}"
_LATIN_WORD = r"[A-Za-z][A-Za-z'’\-]{0,29}"
_CAPITALISED = r"[A-Z][a-z'’\-]{1,29}"

# After these, the next words are a name (Chinese, or Latin letters: "我叫Sam").
_ZH_STRONG = (
    "我叫|我的名字[是叫]|我名字[是叫]|名字[是叫]|叫我|姓名|客户姓名|客戶姓名|联系人|聯繫人|聯絡人|"
    "收件人|收货人|收貨人|本人姓名|联系人姓名|聯繫人姓名"
)
_ZH_STRONG_RE = re.compile(
    rf"(?:{_ZH_STRONG})(?:是|为|為|叫)?[:：\s]*"
    rf"(?P<name>{_CHINESE_NAME}|{_CAPITALISED}(?:[ \u00a0]{_CAPITALISED}){{0,2}})"
)
# "我是李雷，…": only when the phrase ends right after the name.
_ZH_BOUNDARY = r"(?=$|[\s，。！？、；：,.!?;:）)]|的|想|要|请|請|在|啊|呀|哦)"
_ZH_WEAK_RE = re.compile(rf"(?:我是|這裡是|这里是)(?P<name>{_CHINESE_NAME}){_ZH_BOUNDARY}")

_EN_STRONG_RE = re.compile(
    r"(?i:\b(?:my\s+name\s+is|my\s+name's|the\s+name\s+is|full\s+name|name|"
    r"contact\s+person|contact\s+name|call\s+me|attn)\b)"
    r"\s*(?:[:：]\s*|\s+)"
    rf"(?P<name>(?:{_CHINESE_NAME})|{_LATIN_WORD}(?:[ \u00a0]{_LATIN_WORD}){{0,2}})"
)
_EN_WEAK_RE = re.compile(
    r"(?i:\b(?:i\s+am|i'm|i’m|this\s+is|regards|best\s+regards|kind\s+regards|thanks|"
    r"thank\s+you|cheers|sincerely|yours))"
    r"[,!.]?\s+"
    rf"(?P<name>{_CAPITALISED}(?:[ \u00a0]{_CAPITALISED}){{0,2}})"
)
_TITLE_RE = re.compile(
    rf"\b(?:Mr|Mrs|Ms|Miss|Dr)\.?\s+(?P<name>{_CAPITALISED}(?:[ \u00a0]{_CAPITALISED})?)"
)

# Words that end an English name (or mean there was none): "my name is Sam and …".
_STOP_WORDS = _words(
    """a an and or but my me i is am are was were be been the to for from with at in on of by
    via my your our his her their this that it its not no yes please here there calling
    speaking phone number mobile email e-mail tel telephone id account order ticket thanks
    thank you who which what when where why how have has had will can could would should
    also too again now just still very so sorry hello hi dear customer user member"""
)
# Capitalised words after a weak cue that are not names ("I'm Sorry", "This is Urgent").
_NOT_NAMES = _words(
    """i a an the not very so sorry happy glad fine ok okay sure here still just really
    back new your my our also currently now again using in at on from with unable trying
    going calling writing looking having getting waiting afraid interested confused
    frustrated annoyed angry disappointed done finished ready able available busy abroad
    home out away travelling traveling moving customer member vip premium following
    contacting reaching asking requesting experiencing facing chinese english american
    british canadian australian urgent important please hello hi dear team support
    service desk broadband internet it that this there"""
)


def _latin_name(words: str, *, capitalised_only: bool) -> str | None:
    """The leading words of ``words`` that can be a name, or None."""
    kept: list[str] = []
    for word in re.split(r"[ \u00a0]", words):
        lowered = word.lower().strip("'’-")
        if not lowered or lowered in _STOP_WORDS:
            break
        if capitalised_only and (not word[0].isupper() or lowered in _NOT_NAMES):
            break
        kept.append(word)
    return " ".join(kept) if kept else None


def _chinese_name(candidate: str) -> str:
    """The name without trailing characters that cannot belong to it."""
    surname_length = 2 if candidate[:2] in _COMPOUND_SURNAMES else 1
    given = candidate[surname_length:]
    for index, char in enumerate(given):
        if char in _NOT_IN_GIVEN_NAME:
            given = given[:index]
            break
    return candidate[:surname_length] + given if given else ""


def _is_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _from_match(match: re.Match[str], *, capitalised_only: bool) -> tuple[int, int] | None:
    start = match.start("name")
    raw = match.group("name")
    name = (
        _chinese_name(raw) if _is_han(raw) else _latin_name(raw, capitalised_only=capitalised_only)
    )
    if not name:
        return None
    return start, start + len(name)


def _known_name_patterns(names: Iterable[str]) -> list[re.Pattern[str]]:
    """Patterns for the customer's own name, its given name and its parts."""
    variants: set[str] = set()
    for raw in names:
        name = " ".join(raw.split())
        if len(name) < 2 or (not _is_han(name) and len(name) < 3):
            continue  # "Li" alone would match the word "li" in any text
        variants.add(name)
        if _is_han(name):
            surname_length = 2 if name[:2] in _COMPOUND_SURNAMES else 1
            given = name[surname_length:]
            if len(given) >= 2:
                variants.add(given)
        else:
            variants.update(part for part in name.split() if len(part) >= 3)
    patterns = []
    # Longest first, so the full name wins over its parts where both match.
    for variant in sorted(variants, key=len, reverse=True):
        if _is_han(variant):
            patterns.append(re.compile(re.escape(variant)))
        else:
            patterns.append(
                re.compile(rf"(?<![A-Za-z]){re.escape(variant)}(?![A-Za-z])", re.IGNORECASE)
            )
    return patterns


def find_names(text: str, known: Iterable[str] = ()) -> Iterator[tuple[int, int]]:
    """(start, end) of every name found in the text (overlaps are resolved by the caller)."""
    for pattern in (_ZH_STRONG_RE, _EN_STRONG_RE):
        for match in pattern.finditer(text):
            span = _from_match(match, capitalised_only=False)
            if span:
                yield span
    for pattern in (_ZH_WEAK_RE, _EN_WEAK_RE, _TITLE_RE):
        for match in pattern.finditer(text):
            span = _from_match(match, capitalised_only=True)
            if span:
                yield span
    for pattern in _known_name_patterns(known):
        for match in pattern.finditer(text):
            yield match.start(), match.end()


def mask_name_in_text(value: str) -> str:
    """``李雷`` -> ``李*``, ``欧阳娜娜`` -> ``欧阳**``, ``Sam Taylor`` -> ``S*** T***``; a
    Chinese name that does not start with a surname (a given name alone) -> all stars."""
    if _is_han(value):
        if value[:2] in _COMPOUND_SURNAMES and len(value) > 2:
            return value[:2] + "*" * (len(value) - 2)
        if value[0] in _SINGLE_SURNAMES and len(value) > 1:
            return value[0] + "*" * (len(value) - 1)
        return "*" * len(value)
    return " ".join(f"{word[0]}***" for word in value.split())
