"""English word and sentence splitting for the quality filters, with spaCy's English tokenizer rules.

The published filters count "words" with a word tokenizer; datatrove (the reference code for
FineWeb) uses ``spacy.blank("en")``. Counts such as the share of words with a letter depend on
that tokenizer: punctuation marks are words of their own, ``don't`` is two words, ``Mr.`` one.
This module follows the same rules, written in plain ``re``, without loading spaCy:

1. cut the text at whitespace into chunks;
2. peel prefixes (opening punctuation, quotes, currency) and suffixes (closing punctuation,
   quotes, ``'s``, a final period after a lowercase letter or two capitals, units after a
   number) off each chunk, stopping at an exception (``Mr.``, ``e.g.``, ``don't``);
3. split what is left at infixes (``--`` between letters, ``...``, ``,`` between letters, ``.``
   between a lowercase and a capital letter), unless it is a URL.

A chunk's words are cached: text repeats its words, so most chunks are looked up, not split.
On the 6,390 documents of the prose test corpus, every chunk splits exactly as spaCy splits it.

>>> split_words("Mr. Darcy didn't say--that it's 5pm (e.g. now).")
['Mr.', 'Darcy', 'did', "n't", 'say', '--', 'that', 'it', "'s", '5', 'pm', '(', 'e.g.', 'now', ')', '.']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

__all__ = ["SENTENCE_TERMINALS", "chunk_words", "count_sentences", "is_punctuation", "split_words"]


# ---------------------------------------------------------------------------- character classes
def _class(codepoints: Iterable[int]) -> str:
    """A regex character-class body (ranges as escapes) for a set of code points."""
    points = sorted(set(codepoints))
    parts: list[str] = []
    i = 0
    while i < len(points):
        j = i
        while j + 1 < len(points) and points[j + 1] == points[j] + 1:
            j += 1
        parts.append(f"\\U{points[i]:08x}" if i == j else f"\\U{points[i]:08x}-\\U{points[j]:08x}")
        i = j + 1
    return "".join(parts)


# Scripts without case count as both lower and upper case, as spaCy has them: Hebrew, Arabic,
# Indic scripts, Ethiopic, Hangul, kana and CJK ideographs.
_UNCASED = [(0x0591, 0x05F4), (0x0620, 0x06FF), (0x0750, 0x077F), (0x0900, 0x0DFF), (0x1100, 0x11FF),
            (0x1200, 0x137F), (0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF),
            (0xF900, 0xFAFF), (0x20000, 0x2FA1F)]
# Cased letters: Latin (with its extensions), Greek, Cyrillic and the other bicameral scripts.
_CASED_BLOCKS = [(0x0041, 0x052F), (0x1D00, 0x1FFF), (0x2C60, 0x2C7F), (0xA640, 0xA7FF), (0xAB30, 0xAB6F),
                 (0xFF21, 0xFF5A)]


def _letters(cased: str) -> str:
    pred = str.islower if cased == "lower" else str.isupper
    uncased = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _UNCASED)
    return _class(cp for lo, hi in _CASED_BLOCKS for cp in range(lo, hi + 1) if pred(chr(cp))) + uncased


_LOWER = _letters("lower")
_UPPER = _letters("upper")
_ALPHA = _LOWER + _UPPER
# Symbols (category So: emoji, arrows, box drawing, ©, °) are split off like punctuation.
_SYMBOL_BLOCKS = [(0x00A0, 0x33FF), (0x4DC0, 0x4DFF), (0xA490, 0xAAFF), (0xFDFD, 0xFFFD), (0x10100, 0x1FAFF)]
_ICONS = _class(cp for lo, hi in _SYMBOL_BLOCKS for cp in range(lo, hi + 1) if unicodedata.category(chr(cp)) == "So")

_PUNCT = "…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪"
_QUOTES = "'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉〈〉⟦⟧"
_CURRENCY = "$£€¥฿₽﷼₴₠₡₢₣₤₥₦₧₨₩₪₫₭₮₯₰₱₲₳₵₶₷₸₹₺₻₼₾₿"
_UNITS = ("km km² km³ m m² m³ dm dm² dm³ cm cm² cm³ mm mm² mm³ ha µm nm yd in ft kg g mg µg t lb oz "  # noqa: SIM905
          "m/s km/h kmh mph hPa Pa mbar mb MB kb KB gb GB tb TB T G M K %").split()


def _chars(text: str) -> str:
    return "".join("\\" + c if c in "\\]^-[" else c for c in dict.fromkeys(text))


_PREFIX = re.compile(r"\.\.+|US\$|C\$|A\$|\+(?![0-9])|[" + _chars("§%=—–" + _PUNCT + _QUOTES + _CURRENCY)
                     + _ICONS + "]")
_SUFFIX = re.compile(
    r"(?:\.\.+|……|[" + _chars(_PUNCT + _QUOTES + "—–") + _ICONS + r"]|'s|'S|’s|’S"
    r"|(?<=[0-9])\+|(?<=°[FfCcKk])\."
    r"|(?<=[0-9])(?:US\$|C\$|A\$|[" + _chars(_CURRENCY) + "])"
    r"|(?<=[0-9])(?:" + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True)) + ")"
    # A final period goes after a digit, a lowercase letter, punctuation or a quote, or after
    # two capitals ("USA."), but stays on a single capital ("I.", "J.").
    r"|(?<=[0-9" + _LOWER + _chars("%²-+|" + _PUNCT + _QUOTES) + r"])\."
    r"|(?<=[" + _UPPER + "][" + _UPPER + r"])\.)$"
)
_INFIX = re.compile(
    r"\.\.+|…|[" + _ICONS + "]"
    r"|(?<=[0-9])[+\-*^](?=[0-9-])"
    r"|(?<=[" + _LOWER + _chars(_QUOTES) + r"])\.(?=[" + _UPPER + _chars(_QUOTES) + "])"
    r"|(?<=[" + _ALPHA + "]),(?=[" + _ALPHA + "])"
    r"|(?<=[" + _ALPHA + r"0-9])(?:---|--|-|——|—|–|~)(?=[" + _ALPHA + "])"
    r"|(?<=[" + _ALPHA + r"0-9])[:<>=/](?=[" + _ALPHA + "])"
)
# A URL or an e-mail address stays one word.
_URL = re.compile(
    r"(?:[\w+\-.]{2,}://)?(?:\S+@)?"
    r"(?:(?:[A-Za-z0-9\u00a1-\uffff][A-Za-z0-9\u00a1-\uffff_-]{0,62})?[A-Za-z0-9\u00a1-\uffff]\.)+"
    r"[" + _LOWER + r"]{2,63}(?::\d{2,5})?(?:[/?#]\S*)?\Z"
)


# ---------------------------------------------------------------------------- exceptions
def _exceptions() -> dict[str, tuple[str, ...]]:
    """Chunks with a fixed split: English contractions, abbreviations, times, emoticons."""
    out: dict[str, tuple[str, ...]] = {}

    def add(*words: str) -> None:
        for first in dict.fromkeys((words[0], words[0][:1].upper() + words[0][1:])):
            out[first + "".join(words[1:])] = (first, *words[1:])

    def contraction(stem: str, *endings: str) -> None:
        """``stem`` with the endings, written with and without apostrophes (``I'd``, ``Id``)."""
        add(stem, *endings)
        add(stem, *(e.replace("'", "") for e in endings))

    for p in ("i", "you", "he", "she", "it", "we", "they"):
        for endings in (("'ll",), ("'ll", "'ve"), ("'d",), ("'d", "'ve")):
            contraction(p, *endings)
    contraction("i", "'m")
    contraction("i", "'m", "a")
    for p in ("i", "you", "we", "they"):
        contraction(p, "'ve")
    for p in ("you", "we", "they"):
        contraction(p, "'re")
    for p in ("he", "she", "it"):
        contraction(p, "'s")
    for w in ("who", "what", "when", "where", "why", "how", "there", "that", "this", "these", "those"):
        for endings in (("'ll",), ("'ll", "'ve"), ("'d",), ("'d", "'ve")):
            contraction(w, *endings)
        if w not in ("these", "those"):
            contraction(w, "'s")
        if w not in ("that", "this"):
            contraction(w, "'re")
            contraction(w, "'ve")
    for v in ("ca", "could", "do", "does", "did", "had", "may", "might", "must", "need", "ought", "sha",
              "should", "wo", "would"):
        contraction(v, "n't")
        contraction(v, "n't", "'ve")
    for v in ("could", "might", "must", "should", "would"):
        contraction(v, "'ve")
    for v in ("ai", "are", "is", "was", "were", "have", "has", "dare"):
        contraction(v, "n't")
    # Words that read as contractions without an apostrophe but are words in their own right.
    for word in ("ill", "its", "hell", "shell", "shed", "were", "well", "whore"):
        out.pop(word, None)
        out.pop(word.title(), None)
    for parts in (("y'", "all"), ("y", "all"), ("how", "'d", "'y"), ("not", "'ve"), ("not", "ve"), ("can", "not"),
                  ("gon", "na"), ("got", "ta"), ("let", "'s"), ("c'm", "on")):
        add(*parts)
    for h in range(1, 13):
        for period in ("a.m.", "am", "p.m.", "pm"):
            out[f"{h}{period}"] = (str(h), period)
    for u in "cfkCFK":
        out[f"°{u}."] = ("°", u, ".")
    single = [
        # dropped letters
        "'em", "'ll", "'nuff", "'re", "'s", "'S", "‘s", "‘S", "'d", "'bout", "'cause", "'Cause", "'cos", "'Cos",
        "'coz", "'Coz", "'cuz", "'Cuz", "ma'am", "Ma'am", "o'clock", "O'clock", "and/or", "w/o",
        *(w + "'" for s in ("doin", "goin", "nothin", "nuthin", "ol", "somethin", "lovin", "havin")
          for w in (s, s.title())),
        # abbreviations
        "Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Mt.", "Jr.", "Messrs.", "Prof.", "Rev.", "Gen.", "Gov.", "Sen.",
        "Rep.", "Adm.", "Bros.", "Co.", "co.", "Corp.", "Inc.", "Ltd.", "vs.", "v.s.", "e.g.", "E.g.", "E.G.",
        "i.e.", "I.e.", "I.E.", "a.m.", "p.m.", "Ph.D.",
        "Jan.", "Feb.", "Mar.", "Apr.", "Jun.", "Jul.", "Aug.", "Sep.", "Sept.", "Oct.", "Nov.", "Dec.",
        "Ak.", "Ala.", "Ariz.", "Ark.", "Calif.", "Colo.", "Conn.", "D.C.", "Del.", "Fla.", "Ga.", "Ia.", "Id.",
        "Ill.", "Ind.", "Kan.", "Kans.", "Ky.", "La.", "Mass.", "Md.", "Mich.", "Minn.", "Miss.", "Mo.", "Mont.",
        "N.C.", "N.D.", "N.H.", "N.J.", "N.M.", "N.Y.", "Neb.", "Nebr.", "Nev.", "Okla.", "Ore.", "Pa.", "S.C.",
        "Tenn.", "Va.", "Wash.", "Wis.",
        *(c + "." for c in "abcdefghijklmnopqrstuvwxyzäöü"),
        # symbols and emoticons
        "'", "''", "C++", "—", "\\n", "\\t", '\\")', "<space>",
        *":) :-) :)) :-)) :))) :-))) (: (-: =) (= :] :-] [: [-: [= =] :o) (o: :} :-} 8) 8-) (-8 ;) ;-) (; (-; "  # noqa: SIM905
         ":( :-( :(( :-(( :((( :-((( ): )-: =( >:( :') :'-) :'( :'-( :/ :-/ =/ =| :| :-| ]= =[ :1 :P :-P :p :-p "
         ":O :-O :o :-o :0 :-0 :() >:o :* :-* :3 :-3 =3 :> :-> :X :-X :x :-x :D :-D ;D ;-D =D xD XD xDD XDD 8D "
         "8-D ^_^ ^__^ ^___^ >.< >.> <.< ._. ;_; -_- -__- v.v V.V v_v V_V o_o o_O O_o O_O 0_o o_0 0_0 o.O O.o "
         "O.O o.o 0.0 o.0 0.o @_@ <3 <33 <333 </3 (^_^) (-_-) (._.) (>_<) (*_*) (¬_¬) ಠ_ಠ ಠ︵ಠ (ಠ_ಠ) ¯\\(ツ)/¯ "
         "(╯°□°）╯︵┻━┻ ><(((*>".split(),
    ]
    for word in single:
        out[word] = (word,)
    # Every rule with a straight apostrophe holds with a curly one too.
    for key, words in list(out.items()):
        if "'" in key:
            out.setdefault(key.replace("'", "’"), tuple(w.replace("'", "’") for w in words))
    return out


_EXCEPTIONS = _exceptions()
# Exceptions that contain punctuation: after a chunk is split, adjacent words that spell one of
# them are joined back ("a''" gives "a", "''").
_JOINABLE = {key: words for key, words in _EXCEPTIONS.items() if len(key) > 1 and not key.isalnum()}
_MAX_EXCEPTION = max(map(len, _EXCEPTIONS))
# Only the last few characters can hold a suffix, except a run of dots ("word....."): searching
# just them keeps a long chunk linear, where searching it all would make the affix loop quadratic.
_SUFFIX_WINDOW = 8
# Longer pieces are not tested as URLs (the pattern backtracks; real URLs are shorter).
_MAX_URL = 2048
# Longer chunks are split every time rather than cached.
_MAX_CACHED = 64


def _suffix_length(chunk: str, lo: int, end: int) -> int:
    """The length of the suffix rule's (leftmost) match at the end of ``chunk[lo:end]``, or 0."""
    if end - lo <= _SUFFIX_WINDOW + 2:
        match = _SUFFIX.search(chunk[lo:end])
    elif chunk[end - 1] == "." and chunk[end - 2] == ".":
        start = end - 2
        while start > lo and chunk[start - 1] == ".":
            start -= 1
        return end - start
    else:
        # The lookbehinds (two characters at most) may read before the window, not before ``lo``.
        match = _SUFFIX.search(chunk, end - _SUFFIX_WINDOW, end)
    return match.end() - match.start() if match else 0


def _affix_split(chunk: str, exceptions: dict[str, tuple[str, ...]]) -> list[str]:
    """One chunk's words by the prefix / suffix / infix rules, stopping at ``exceptions``.

    The piece still to split is ``chunk[start:end]``: indexes, not copies, so the loop stays
    linear in the chunk's length.
    """

    def exception(lo: int, hi: int) -> bool:
        return hi - lo <= _MAX_EXCEPTION and chunk[lo:hi] in exceptions

    start, end = 0, len(chunk)
    if exception(start, end):
        return list(exceptions[chunk])
    prefixes: list[str] = []
    suffixes: list[str] = []
    last = -1
    while start < end and end - start != last:
        if exception(start, end):
            break
        last = end - start
        match = _PREFIX.match(chunk, start, end)
        pre = match.end() - start if match else 0
        if pre and start + pre < end and exception(start + pre, end):
            prefixes.append(chunk[start:start + pre])
            start += pre
            break
        suf = _suffix_length(chunk, start + pre, end)
        if suf and end - suf > start and exception(start, end - suf):
            suffixes.append(chunk[end - suf:end])
            end -= suf
            break
        if pre:
            prefixes.append(chunk[start:start + pre])
        if suf:
            suffixes.append(chunk[end - suf:end])
        start += pre
        end -= suf
    words = prefixes
    rest = chunk[start:end]
    if rest:
        if exception(start, end):
            words.extend(exceptions[rest])
        elif len(rest) <= _MAX_URL and _URL.match(rest):
            words.append(rest)
        else:
            at = 0
            for match in _INFIX.finditer(rest):
                s, e = match.span()
                if s == 0:
                    continue
                if s != at:
                    words.append(rest[at:s])
                if s != e:
                    words.append(rest[s:e])
                at = e
            if rest[at:]:
                words.append(rest[at:])
    words.extend(reversed(suffixes))
    return words


def _join_trie() -> dict[str, Any]:
    """The joinable exceptions as split by the affix rules alone, as a trie of words."""
    trie: dict[str, Any] = {}
    for key in _JOINABLE:
        parts = _affix_split(key, {})
        if len(parts) < 2:
            continue
        node = trie
        for part in parts:
            node = node.setdefault(part, {})
        node[_END] = key
    return trie


_END = ""  # a word is never empty, so this key marks the end of a trie path
_JOIN_TRIE = _join_trie()


def _rejoin(words: list[str]) -> list[str]:
    """Join adjacent words that spell an exception split apart by the affix rules (``a''`` → a, '').

    Where matches overlap, the longest wins, then the leftmost; a match is refused when its first
    or last word is already taken.
    """
    found: list[tuple[int, int, str]] = []
    for start, word in enumerate(words):
        node = _JOIN_TRIE.get(word)
        depth = 1
        while node is not None:
            if _END in node:
                found.append((-depth, start, node[_END]))
            if start + depth == len(words):
                break
            node = node.get(words[start + depth])
            depth += 1
    if not found:
        return words
    found.sort()
    taken: set[int] = set()
    chosen: dict[int, tuple[int, str]] = {}
    for size, start, key in found:
        end = start - size
        if start not in taken and end - 1 not in taken:
            chosen[start] = (end, key)
        taken.update(range(start, end))
    out: list[str] = []
    i = 0
    while i < len(words):
        if i in chosen:
            end, key = chosen[i]
            out.extend(_JOINABLE[key])
            i = end
        else:
            out.append(words[i])
            i += 1
    return out


def _split_chunk(chunk: str) -> tuple[str, ...]:
    words = _affix_split(chunk, _EXCEPTIONS)
    return tuple(_rejoin(words) if len(words) > 1 else words)


@lru_cache(maxsize=1 << 17)
def _cached_chunk_words(chunk: str) -> tuple[str, ...]:
    if chunk.isalpha():
        return _EXCEPTIONS.get(chunk) or (chunk,)
    return _split_chunk(chunk)


def chunk_words(chunk: str) -> tuple[str, ...]:
    """The words of one whitespace-free chunk of text.

    >>> chunk_words('"Well,'), chunk_words("can't."), chunk_words("U.S.")
    (('"', 'Well', ','), ('ca', "n't", '.'), ('U.S.',))
    """
    if len(chunk) > _MAX_CACHED:
        return _split_chunk(chunk)
    return _cached_chunk_words(chunk)


def split_words(text: str) -> list[str]:
    """The words of ``text``: spaCy English tokens, without whitespace tokens.

    >>> split_words("It's 10% off--today only!")
    ['It', "'s", '10', '%', 'off', '--', 'today', 'only', '!']
    """
    words: list[str] = []
    cached = _cached_chunk_words
    for chunk in text.split():
        words.extend(cached(chunk) if len(chunk) <= _MAX_CACHED else _split_chunk(chunk))
    return words


# ---------------------------------------------------------------------------- sentences
# Characters that end a sentence (Unicode Sentence_Terminal, the common scripts).
SENTENCE_TERMINALS = frozenset(
    "!.?։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？｡。"
)


def is_punctuation(word: str) -> bool:
    """Whether every character of ``word`` is Unicode punctuation (category P*).

    >>> is_punctuation("?!"), is_punctuation("$")
    (True, False)
    """
    return all(unicodedata.category(c)[0] == "P" for c in word)


def _sentence_steps(chunk: str) -> tuple[int, bool, int, bool]:
    """Sentence starts inside a chunk and whether a sentence-final mark is pending after it, for
    each of the two states before it (no mark pending, a mark pending)."""
    words = chunk_words(chunk)
    steps: list[tuple[int, bool]] = []
    for pending in (False, True):
        starts = 0
        for word in words:
            terminal = word in SENTENCE_TERMINALS
            if pending and not terminal and not is_punctuation(word):
                starts += 1
                pending = False
            elif terminal:
                pending = True
        steps.append((starts, pending))
    return steps[0][0], steps[0][1], steps[1][0], steps[1][1]


_cached_sentence_steps = lru_cache(maxsize=1 << 17)(_sentence_steps)


def count_sentences(text: str) -> int:
    """How many sentences ``text`` has, split as spaCy's rule-based ``sentencizer`` does.

    A sentence ends after a sentence-final mark (``.``, ``!``, ``?`` ...) once a word that is not
    punctuation follows; abbreviations such as ``Mr.`` are one word and end nothing.

    >>> count_sentences('Mr. Smith came. "Why?" he asked... Nobody knew!')
    3
    """
    chunks = text.split()
    if not chunks:
        return 0
    sentences = 1
    seen = False
    for chunk in chunks:
        steps = _cached_sentence_steps(chunk) if len(chunk) <= _MAX_CACHED else _sentence_steps(chunk)
        starts_a, seen_a, starts_b, seen_b = steps
        if seen:
            sentences += starts_b
            seen = seen_b
        else:
            sentences += starts_a
            seen = seen_a
    return sentences
