"""Domain words that speech recognition heard as their homophones, put back.

A phone line's ASR writes what it heard, and the desk's words are not its words: 发票
(invoice) comes out 发飘, 工单 (ticket) 公单, 客服 刻服; "invoice" comes out "in voice",
"cancel" "can sell". The classifiers never saw those spellings, so the request is lost.

No table of misspellings is written by hand. The component learns the desk's vocabulary
from the training data and, in a transcript, puts a training word back where something
*sounds* the same but is spelled in a way the training data never uses:

* Chinese: every run of 2-4 characters whose toneless pinyin (any reading of each
  character, pypinyin) equals that of a word the training data uses at least
  ``min_count`` times, with the usual ASR and accent confusions folded (zh/z, ch/c,
  sh/s, n/l, -ing/-in, -eng/-en). The run is left alone when the training data has it
  anywhere (报修 stays 报修 beside 保修), or when it is, or cuts through, a common word of
  jieba's dictionary (以后 stays 以后, though 售后 sounds alike).
* English: two words said as one ("in voice", "can sell", "pass word") whose joined
  spelling sounds like a training word of five letters or more (a small consonant key:
  c before e/i/y as s, ph as f, vowels dropped after the first letter, doubles merged),
  unless the training data has the pair itself ("log in").

Only messages marked as transcripts (``metadata["transcript"]``, set by the voice
channels; or every message with ``force_transcript``) are touched: a typed message
means what it spells. It runs after ``TranscriptNormaliser`` (so Traditional characters
and fillers are gone) and before the tokenizer; the original stays in ``original_text``.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import pairwise, product
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.transcript import ORIGINAL_TEXT, is_transcript

logger = logging.getLogger(__name__)

_VOCABULARY_FILE = "homophones.json"
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_EN_WORD = re.compile(r"[A-Za-z]+")
# Jieba dictionary frequency from which a word is a real word, never a mishearing
# (发飘 has 3, 报修 8, 以后 21,386).
COMMON_WORD_FREQUENCY = 5
# Above this jieba frequency a word is everyday Chinese (时间 33,288, 不想 4,563, 失望
# 1,234), not the desk's (机器人 384, 优惠券 9); the desk dictionary's terms always count.
GENERAL_WORD_FREQUENCY = 1000
_ZH_LENGTHS = (2, 3, 4)
_EN_MIN_LENGTH = 5
# How alike the joined spelling and the word must be (difflib ratio): cansell ~ cancel 0.77.
ENGLISH_SIMILARITY = 0.75
# Two of these in a row are grammar, not a word heard in two halves.
_FUNCTION_WORDS = frozenset(
    {
        "a", "an", "the", "and", "but", "or", "if", "so", "as", "at", "by", "for", "from",
        "in", "into", "of", "off", "on", "onto", "out", "over", "to", "up", "with", "without",
        "it", "its", "is", "was", "be", "been", "am", "are", "were", "do", "does", "did", "not",
        "no", "yes", "me", "my", "we", "our", "you", "your", "he", "him", "his", "she", "her",
        "they", "them", "their", "one", "this", "that", "there", "then", "than", "can", "will",
    }
)
_ENDINGS = ("s", "es", "ed", "d", "ing", "er", "ers", "ly", "n", "en")


@lru_cache(maxsize=4)
def _jieba(dictionary_path: str | None = None) -> Any:
    """Jieba's default segmenter with the desk's user dictionary (the same one the
    tokenizer loads: 工单 is a word), initialised once."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    if dictionary_path:
        for path in sorted(Path(dictionary_path).glob("*")):
            if path.is_file():
                jieba.load_userdict(str(path))
    return jieba.dt


@lru_cache(maxsize=4)
def _desk_terms(dictionary_path: str | None) -> frozenset[str]:
    """The words of the desk's user dictionary (its domain terms)."""
    terms: set[str] = set()
    if dictionary_path:
        for path in sorted(Path(dictionary_path).glob("*")):
            if path.is_file():
                lines = path.read_text(encoding="utf-8").splitlines()
                terms.update(line.split()[0] for line in lines if line.strip())
    return frozenset(terms)


def _fold(syllable: str) -> str:
    """A toneless pinyin syllable with the confusions of ASR and southern accents folded."""
    for retroflex, flat in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if syllable.startswith(retroflex):
            syllable = flat + syllable[2:]
            break
    if syllable.startswith("l"):
        syllable = "n" + syllable[1:]
    if syllable.endswith("ng") and syllable[-3:-2] in ("i", "e"):
        syllable = syllable[:-1]
    return syllable


@lru_cache(maxsize=8192)
def _readings(char: str) -> frozenset[str]:
    """Every folded reading of one character (polyphones have several)."""
    from pypinyin import Style, pinyin

    return frozenset(_fold(r) for r in pinyin(char, style=Style.NORMAL, heteronym=True)[0])


def _word_key(word: str) -> tuple[str, ...]:
    """The folded toneless pinyin of a word, read in context."""
    from pypinyin import lazy_pinyin

    return tuple(_fold(s) for s in lazy_pinyin(word))


def english_key(word: str) -> str:
    """A consonant key of an English spelling: "cancel" and "cansell" both ``knsl``."""
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return ""
    w = w.replace("ph", "f").replace("ck", "k").replace("wh", "w").replace("gh", "")
    w = re.sub(r"c(?=[eiy])", "s", w)
    w = w.replace("c", "k").replace("q", "k").replace("x", "ks").replace("z", "s")
    first, rest = w[0], re.sub(r"[aeiouy]", "", w[1:])
    key = ("a" if first in "aeiouy" else first) + rest
    return re.sub(r"(.)\1+", r"\1", key)


class DomainVocabulary:
    """The training data's words by sound, and what the training data already spells."""

    def __init__(
        self,
        chinese: dict[tuple[str, ...], str],
        english: dict[str, str],
        seen_chinese: set[str],
        seen_pairs: set[str],
        dictionary_path: str | None = None,
    ) -> None:
        self.dictionary_path = dictionary_path
        self.chinese = chinese
        self.english = english
        self.seen_chinese = seen_chinese
        self.seen_pairs = seen_pairs

    @classmethod
    def learn(
        cls, texts: list[str], min_count: int = 3, dictionary_path: str | None = None
    ) -> DomainVocabulary:
        """The words used at least ``min_count`` times in ``texts``, keyed by sound."""
        segmenter = _jieba(dictionary_path)
        terms = _desk_terms(dictionary_path)
        zh_counts: Counter[str] = Counter()
        en_counts: Counter[str] = Counter()
        for text in texts:
            for run in _CJK_RUN.findall(text):
                zh_counts.update(
                    w for w in segmenter.lcut(run, HMM=False) if len(w) in _ZH_LENGTHS
                )
            en_counts.update(
                w.lower() for w in _EN_WORD.findall(text) if len(w) >= _EN_MIN_LENGTH
            )
        chinese: dict[tuple[str, ...], str] = {}
        for word, count in zh_counts.most_common():
            # Only the desk's words: its dictionary's terms and words rare in everyday
            # Chinese. Everyday words (时间, 不想, 失望) are left out, so that 这是件 never
            # becomes 这时间, nor 不响 不想.
            domain = word in terms or (segmenter.FREQ.get(word) or 0) <= GENERAL_WORD_FREQUENCY
            if count >= min_count and domain:
                chinese.setdefault(_word_key(word), word)
        english: dict[str, str] = {}
        for word, count in en_counts.most_common():
            if count >= min_count:
                english.setdefault(english_key(word), word)
        # What the training data spells is never a mishearing: keep the Chinese runs that
        # sound like a vocabulary word (the only ones a rewrite could touch), and its word
        # pairs.
        lengths = {len(k) for k in chinese}
        seen_chinese: set[str] = set()
        seen_pairs: set[str] = set()
        for text in texts:
            for run in _CJK_RUN.findall(text):
                for n in lengths:
                    for i in range(len(run) - n + 1):
                        window = run[i : i + n]
                        if window not in seen_chinese and cls._matches(chinese, window):
                            seen_chinese.add(window)
            words = [w.lower() for w in _EN_WORD.findall(text)]
            seen_pairs.update(f"{a} {b}" for a, b in pairwise(words))
        return cls(chinese, english, seen_chinese, seen_pairs, dictionary_path)

    @staticmethod
    def _matches(chinese: dict[tuple[str, ...], str], window: str) -> str | None:
        """The vocabulary word that ``window`` sounds like (any reading of each char)."""
        for key in product(*(sorted(_readings(c)) for c in window)):
            word = chinese.get(key)
            if word is not None:
                return word
        return None

    def restore_chinese(self, text: str) -> str:
        """Put training words back where a run of characters sounds like one."""
        if not self.chinese or not _CJK_RUN.search(text):
            return text
        segmenter = _jieba(self.dictionary_path)
        freq = segmenter.FREQ
        # Characters inside a common word (jieba, no guessing of new words) are taken.
        protected = [False] * len(text)
        start = 0
        for token in segmenter.lcut(text, HMM=False):
            if len(token) > 1 and (freq.get(token) or 0) >= COMMON_WORD_FREQUENCY:
                for i in range(start, start + len(token)):
                    protected[i] = True
            start += len(token)
        out: list[str] = []
        i = 0
        while i < len(text):
            replaced = False
            for n in sorted(_ZH_LENGTHS, reverse=True):
                window = text[i : i + n]
                if (
                    len(window) < n
                    or not _CJK_RUN.fullmatch(window)
                    or window in self.seen_chinese
                    or any(protected[i : i + n])
                ):
                    continue
                word = self._matches(self.chinese, window)
                if word and word != window:
                    out.append(word)
                    i += n
                    replaced = True
                    break
            if not replaced:
                out.append(text[i])
                i += 1
        return "".join(out)

    def restore_english(self, text: str) -> str:
        """Join two words that sound like one training word ("in voice" -> "invoice")."""
        if not self.english:
            return text
        words = list(_EN_WORD.finditer(text))
        out: list[str] = []
        last = 0
        i = 0
        while i < len(words) - 1:
            a, b = words[i], words[i + 1]
            word = self._english_word(a.group(0), b.group(0))
            if word is not None and text[a.end() : b.start()] == " ":
                out += [text[last : a.start()], word]
                last = b.end()
                i += 2
            else:
                i += 1
        out.append(text[last:])
        return "".join(out)

    def _english_word(self, a: str, b: str) -> str | None:
        """The training word that "a b" said as one sounds like, if any."""
        a, b = a.lower(), b.lower()
        if (len(a) < 2 and a != "a") or len(b) < 2 or self._seen_pair(a, b):
            return None
        if a in _FUNCTION_WORDS and b in _FUNCTION_WORDS:
            return None  # "with it" is no "without", "but one" no "button"
        word = self.english.get(english_key(a + b))
        if word is None or word in (a, b):
            return None
        # Sounds alike *and* spelled nearly alike: "cansell" ~ "cancel", not "anin" ~ "anyone".
        if SequenceMatcher(None, a + b, word).ratio() < ENGLISH_SIMILARITY:
            return None
        return word

    def _seen_pair(self, a: str, b: str) -> bool:
        """Whether the training data says "a b", or "a b" with an ending ("not working"
        makes "not work" a phrase, never "network")."""
        if f"{a} {b}" in self.seen_pairs:
            return True
        return any(f"{a} {b}{ending}" in self.seen_pairs for ending in _ENDINGS)

    def restore(self, text: str) -> str:
        """Both languages."""
        return self.restore_english(self.restore_chinese(text))

    def to_json(self) -> dict[str, Any]:
        """For the model archive."""
        return {
            "chinese": [[list(k), w] for k, w in self.chinese.items()],
            "english": self.english,
            "seen_chinese": sorted(self.seen_chinese),
            "seen_pairs": sorted(self.seen_pairs),
        }

    @classmethod
    def from_json(
        cls, data: dict[str, Any], dictionary_path: str | None = None
    ) -> DomainVocabulary:
        """From the model archive."""
        return cls(
            {tuple(k): w for k, w in data["chinese"]},
            dict(data["english"]),
            set(data["seen_chinese"]),
            set(data["seen_pairs"]),
            dictionary_path,
        )


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class HomophoneNormaliser(GraphComponent):
    """In transcripts, puts the desk's words back where ASR wrote a homophone."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """``min_count``: how often the training data must use a word for it to be put
        back; ``force_transcript``: treat every message as a transcript;
        ``dictionary_path``: the tokenizer's jieba user dictionary folder."""
        return {"min_count": 3, "force_transcript": False, "dictionary_path": None}

    @staticmethod
    def required_packages() -> list[str]:
        """Pinyin readings and jieba's dictionary."""
        return ["pypinyin", "jieba"]

    @staticmethod
    def supported_languages() -> list[str] | None:
        """Chinese, English and mixed."""
        return None

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vocabulary: DomainVocabulary | None = None,
    ) -> None:
        """Keep the configuration and the learned vocabulary (None until trained)."""
        self._min_count = int(config.get("min_count", 3))
        if self._min_count < 1:
            raise ValueError("HomophoneNormaliser: min_count must be at least 1")
        self._force = bool(config.get("force_transcript", False))
        self._dictionary_path = config.get("dictionary_path")
        self._storage = model_storage
        self._resource = resource
        self.vocabulary = vocabulary

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> HomophoneNormaliser:
        """An untrained component."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Learn the vocabulary from every training example's (normalised) text."""
        texts = [e.get(TEXT) for e in training_data.training_examples if e.get(TEXT)]
        self.vocabulary = DomainVocabulary.learn(texts, self._min_count, self._dictionary_path)
        with self._storage.write_to(self._resource) as model_dir:
            (Path(model_dir) / _VOCABULARY_FILE).write_text(
                json.dumps(self.vocabulary.to_json(), ensure_ascii=False), encoding="utf-8"
            )
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> HomophoneNormaliser:
        """The trained component, or one that changes nothing when none was trained."""
        try:
            with model_storage.read_from(resource) as model_dir:
                data = json.loads((Path(model_dir) / _VOCABULARY_FILE).read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError):
            logger.debug("%s has no trained vocabulary; it will change nothing", cls.__name__)
            return cls(config, model_storage, resource)
        vocabulary = DomainVocabulary.from_json(data, config.get("dictionary_path"))
        return cls(config, model_storage, resource, vocabulary)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Typed training examples are left as they are."""
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Rewrite transcripts; keep the customer's words in ``original_text``."""
        if self.vocabulary is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text:
                continue
            if not (self._force or is_transcript(message)):
                continue
            restored = self.vocabulary.restore(text)
            if restored != text:
                if message.get(ORIGINAL_TEXT) is None:
                    message.set(ORIGINAL_TEXT, text, add_to_output=True)
                message.set(TEXT, restored)
        return messages
