from __future__ import annotations

import random
from collections import Counter
from functools import cache
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill import ConfigError, Pipeline
from datamill.clean.language import DetectLanguage, LanguageFilter, sample_text
from datamill.core.errors import SchemaError
from datamill.store import Workspace
from datamill.testing import make_batch, run_step

# Faker locales whose lorem provider holds real words of the language (others fall back to
# Latin): 23 languages, 8 scripts. Hebrew is left out: its provider is transliterated lorem ipsum.
FAKER_LOCALES = {
    "ar": "ar_AA", "az": "az_AZ", "bn": "bn_BD", "cs": "cs_CZ", "da": "da_DK", "de": "de_DE", "el": "el_GR",
    "en": "en_US", "es": "es_ES", "fa": "fa_IR", "fr": "fr_FR", "hy": "hy_AM", "it": "it_IT", "ja": "ja_JP",
    "mk": "mk_MK", "nl": "nl_NL", "pl": "pl_PL", "ru": "ru_RU", "th": "th_TH", "tl": "tl_PH", "uk": "uk_UA",
    "vi": "vi_VN", "zh": "zh_CN",
}

# Article 1 of the Universal Declaration of Human Rights (UN translations, public domain).
UDHR_ARTICLE_1 = {
    "en": "All human beings are born free and equal in dignity and rights. They are endowed with reason and "
          "conscience and should act towards one another in a spirit of brotherhood.",
    "fr": "Tous les êtres humains naissent libres et égaux en dignité et en droits. Ils sont doués de raison et "
          "de conscience et doivent agir les uns envers les autres dans un esprit de fraternité.",
    "de": "Alle Menschen sind frei und gleich an Würde und Rechten geboren. Sie sind mit Vernunft und Gewissen "
          "begabt und sollen einander im Geist der Brüderlichkeit begegnen.",
    "es": "Todos los seres humanos nacen libres e iguales en dignidad y derechos y, dotados como están de razón "
          "y conciencia, deben comportarse fraternalmente los unos con los otros.",
    "pt": "Todos os seres humanos nascem livres e iguais em dignidade e em direitos. Dotados de razão e de "
          "consciência, devem agir uns para com os outros em espírito de fraternidade.",
    "it": "Tutti gli esseri umani nascono liberi ed eguali in dignità e diritti. Essi sono dotati di ragione e "
          "di coscienza e devono agire gli uni verso gli altri in spirito di fratellanza.",
    "nl": "Alle mensen worden vrij en gelijk in waardigheid en rechten geboren. Zij zijn begiftigd met verstand "
          "en geweten, en behoren zich jegens elkander in een geest van broederschap te gedragen.",
    "sv": "Alla människor är födda fria och lika i värde och rättigheter. De har utrustats med förnuft och "
          "samvete och bör handla gentemot varandra i en anda av broderskap.",
    "pl": "Wszyscy ludzie rodzą się wolni i równi pod względem swej godności i swych praw. Są oni obdarzeni "
          "rozumem i sumieniem i powinni postępować wobec innych w duchu braterstwa.",
    "cs": "Všichni lidé rodí se svobodní a sobě rovní co do důstojnosti a práv. Jsou nadáni rozumem a svědomím "
          "a mají spolu jednat v duchu bratrství.",
    "fi": "Kaikki ihmiset syntyvät vapaina ja tasavertaisina arvoltaan ja oikeuksiltaan. Heille on annettu "
          "järki ja omatunto, ja heidän on toimittava toisiaan kohtaan veljeyden hengessä.",
    "hu": "Minden emberi lény szabadon születik és egyenlő méltósága és joga van. Az emberek, ésszel és "
          "lelkiismerettel bírván, egymással szemben testvéri szellemben kell hogy viseltessenek.",
    "ro": "Toate ființele umane se nasc libere și egale în demnitate și în drepturi. Ele sunt înzestrate cu "
          "rațiune și conștiință și trebuie să se comporte unele față de altele în spiritul fraternității.",
    "tr": "Bütün insanlar hür, haysiyet ve haklar bakımından eşit doğarlar. Akıl ve vicdana sahiptirler ve "
          "birbirlerine karşı kardeşlik zihniyeti ile hareket etmelidirler.",
    "id": "Semua orang dilahirkan merdeka dan mempunyai martabat dan hak-hak yang sama. Mereka dikaruniai akal "
          "dan hati nurani dan hendaknya bergaul satu sama lain dalam semangat persaudaraan.",
    "ru": "Все люди рождаются свободными и равными в своем достоинстве и правах. Они наделены разумом и "
          "совестью и должны поступать в отношении друг друга в духе братства.",
    "uk": "Всі люди народжуються вільними і рівними у своїй гідності та правах. Вони наділені розумом і "
          "совістю і повинні діяти у відношенні один до одного в дусі братерства.",
    "el": "Όλοι οι άνθρωποι γεννιούνται ελεύθεροι και ίσοι στην αξιοπρέπεια και τα δικαιώματα. Είναι "
          "προικισμένοι με λογική και συνείδηση, και οφείλουν να συμπεριφέρονται μεταξύ τους με πνεύμα "
          "αδελφοσύνης.",
    "ar": "يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق. وقد وهبوا عقلاً وضميرًا وعليهم أن يعامل بعضهم "
          "بعضًا بروح الإخاء.",
    "he": "כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם. כולם חוננו בתבונה ובמצפון, לפיכך חובה עליהם "
          "לנהוג איש ברעהו ברוח של אחווה.",
    "hi": "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता और समानता प्राप्त है। उन्हें बुद्धि "
          "और अन्तरात्मा की देन प्राप्त है और परस्पर उन्हें भाईचारे के भाव से बर्ताव करना चाहिए।",
    "ja": "すべての人間は、生れながらにして自由であり、かつ、尊厳と権利とについて平等である。人間は、理性と良心とを"
          "授けられており、互いに同胞の精神をもって行動しなければならない。",
    "zh": "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。",
    "ko": "모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다. 인간은 천부적으로 이성과 양심을 "
          "부여받았으며 서로 형제애의 정신으로 행동하여야 한다.",
}


@cache
def multilingual_sample(per_kind: int = 30, seed: int = 1234) -> tuple[tuple[str, str, str], ...]:
    """(language, kind, text) rows: ``per_kind`` short (~50 chars) and paragraph (~300 chars)
    texts for each Faker language. Deterministic for a given seed."""
    from faker import Faker

    rows: list[tuple[str, str, str]] = []
    for code, locale in FAKER_LOCALES.items():
        fake = Faker(locale)
        fake.seed_instance(seed)
        rows += [(code, "short", fake.text(max_nb_chars=70)) for _ in range(per_kind)]
        rows += [(code, "paragraph", fake.text(max_nb_chars=400)) for _ in range(per_kind)]
    return tuple(rows)


def mixed_sample(count: int = 60, seed: int = 7) -> list[tuple[tuple[str, str], str]]:
    """Documents made of two paragraphs in two different languages (newline between)."""
    rng = random.Random(seed)
    paragraphs: dict[str, list[str]] = {}
    for code, kind, text in multilingual_sample(per_kind=30, seed=seed):
        if kind == "paragraph":
            paragraphs.setdefault(code, []).append(text)
    docs = []
    for _ in range(count):
        first, second = rng.sample(sorted(paragraphs), 2)
        docs.append(((first, second), rng.choice(paragraphs[first]) + "\n" + rng.choice(paragraphs[second])))
    return docs


def _detect(step: DetectLanguage, texts: list[str | None]) -> pa.Table:
    result = run_step(step, [make_batch(text=pa.array(texts, pa.string()))])
    assert result.ledger.balanced and result.ledger.rows_out == len(texts)
    return result.output


SMALL = {"languages": ["en", "de", "fr", "es", "it", "nl"], "detect_mixed": False}


def test_lang_detect_tags_each_row_with_a_code_and_confidence() -> None:
    texts = [UDHR_ARTICLE_1[c] for c in ("en", "de", "fr", "es")]

    out = _detect(DetectLanguage(**SMALL), texts)

    assert out["language"].to_pylist() == ["en", "de", "fr", "es"]
    assert all(0.5 < c <= 1 for c in out["language_confidence"].to_pylist())
    assert out["mixed_language"].to_pylist() == [None] * 4
    assert out.column_names == ["id", "text", "language", "language_confidence", "mixed_language"]


def test_lang_detect_gives_null_for_null_short_and_letterless_texts() -> None:
    out = _detect(DetectLanguage(**SMALL), [None, "", "  hi  ", "12345 678 !!! ???", "Das Haus ist sehr schön."])

    assert out["language"].to_pylist() == [None, None, None, None, "de"]
    assert out["language_confidence"].to_pylist()[:4] == [None, None, None, None]


def test_lang_detect_metrics_count_languages() -> None:
    batch = make_batch(text=[UDHR_ARTICLE_1["en"], UDHR_ARTICLE_1["en"], UDHR_ARTICLE_1["de"], "?"])

    result = run_step(DetectLanguage(**SMALL), [batch])

    assert result.metrics == {"language_unknown": 1, "language_en": 2, "language_de": 1, "mixed_language": 0}


def test_lang_detect_min_confidence_nulls_the_language_but_keeps_the_confidence() -> None:
    out = _detect(DetectLanguage(**SMALL, min_confidence=0.99), ["Hola amigos", UDHR_ARTICLE_1["es"]])

    assert out["language"].to_pylist() == [None, "es"]
    assert 0 < out["language_confidence"][0].as_py() < 0.99


def test_lang_detect_replaces_columns_from_an_earlier_run() -> None:
    batch = pa.record_batch({"id": ["a"], "text": [UDHR_ARTICLE_1["fr"]], "language": ["xx"]})

    out = run_step(DetectLanguage(**SMALL), [batch]).output

    assert out.column_names == ["id", "text", "language", "language_confidence", "mixed_language"]
    assert out["language"].to_pylist() == ["fr"]


def test_lang_detect_reads_three_slices_of_a_long_text() -> None:
    # An English banner over 10,000 characters of German: the start alone would say English.
    text = "Cookie notice: we use cookies on this site. " * 5 + UDHR_ARTICLE_1["de"] * 60

    sample = sample_text(pa.array([text]), 600).to_pylist()[0]

    assert len(sample) == 600 + 2 and sample.startswith("Cookie notice") and sample.endswith("begegnen.")
    assert _detect(DetectLanguage(**SMALL), [text[:200]])["language"].to_pylist() == ["en"]
    assert _detect(DetectLanguage(**SMALL, max_chars=600), [text])["language"].to_pylist() == ["de"]


def test_lang_detect_flags_mixed_language_documents() -> None:
    step = DetectLanguage(languages=["en", "de", "fr", "es"])
    mixed = UDHR_ARTICLE_1["en"] * 2 + "\n" + UDHR_ARTICLE_1["de"] * 2
    single = UDHR_ARTICLE_1["fr"] * 4

    out = _detect(step, [mixed, single, "Bonjour à tous, merci.", None])

    assert out["mixed_language"].to_pylist() == [True, False, False, None]


def test_lang_detect_names_a_missing_column() -> None:
    with pytest.raises(SchemaError, match=r"needs a string column `body`"):
        run_step(DetectLanguage(**SMALL, text_column="body"), [make_batch(text=["x"])])


def test_lang_detect_rejects_unknown_codes_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"`languages` .*unknown language codes \['english'\].*ISO 639-1"):
        DetectLanguage(languages=["english", "de"])
    with pytest.raises(ConfigError, match=r"unknown language codes \['EN'\].*Did you mean 'en'\?"):
        DetectLanguage(languages=["EN", "de"])
    with pytest.raises(ConfigError, match=r"at least two languages"):
        DetectLanguage(languages=["en"])


def test_lang_detect_keeps_an_empty_batch_empty_with_its_columns() -> None:
    batch = pa.record_batch({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})

    result = run_step(DetectLanguage(**SMALL), [batch])

    assert result.output.num_rows == 0
    assert result.output.column_names == ["id", "text", "language", "language_confidence", "mixed_language"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=60)), max_size=20))
def test_lang_detect_never_fails_and_never_drops_a_row(texts: list[str | None]) -> None:
    out = _detect(DetectLanguage(languages=["en", "de", "ru", "zh"], low_accuracy=True), texts)

    assert set(out["language"].to_pylist()) <= {"en", "de", "ru", "zh", None}


def test_language_filter_keeps_listed_languages_and_names_every_drop() -> None:
    batch = make_batch(language=pa.array(["en", "de", None, "en", "fr", "en"], pa.string()),
                       language_confidence=[0.9, 0.9, None, 0.3, 0.99, 0.95],
                       mixed_language=[False, False, None, False, False, True])

    kept = run_step(LanguageFilter(keep=["en", "fr"], min_confidence=0.5, keep_mixed=False), [batch])

    assert kept.output["id"].to_pylist() == ["0", "4"]
    assert kept.ledger.dropped == {"language_unknown": 1, "language_not_kept": 1, "low_language_confidence": 1,
                                   "mixed_language": 1}
    assert kept.ledger.balanced


def test_language_filter_can_keep_unknown_rows() -> None:
    batch = make_batch(language=pa.array([None, "de"], pa.string()), language_confidence=pa.array([None, 1.0]))

    result = run_step(LanguageFilter(keep=["en"], keep_unknown=True), [batch])

    assert result.output["id"].to_pylist() == ["0"]
    assert result.ledger.dropped == {"language_not_kept": 1}


def test_language_filter_says_to_run_lang_detect_first() -> None:
    with pytest.raises(SchemaError, match=r"needs the `language` column that `lang.detect` adds.*uses: lang.detect"):
        run_step(LanguageFilter(keep=["en"]), [make_batch(text=["hello"])])
    with pytest.raises(SchemaError, match=r"`language` to hold ISO codes \(strings\); it holds int64"):
        run_step(LanguageFilter(keep=["en"]), [make_batch(language=[1])])


def test_language_filter_rejects_unknown_codes_and_an_empty_keep() -> None:
    with pytest.raises(ConfigError, match=r"`keep` .*unknown language codes \['eng'\]"):
        LanguageFilter(keep=["eng"])
    with pytest.raises(ConfigError, match=r"`keep` .*at least 1 item"):
        LanguageFilter(keep=[])
    with pytest.raises(ConfigError, match=r"`keep` is required"):
        LanguageFilter()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["en", "de", "fr", None]), st.floats(0, 1)), max_size=40),
       st.floats(0, 1), st.booleans())
def test_language_filter_accounts_for_every_row(rows: list[tuple[str | None, float]], threshold: float,
                                                keep_unknown: bool) -> None:
    batch = make_batch(language=pa.array([r[0] for r in rows], pa.string()),
                       language_confidence=pa.array([r[1] for r in rows], pa.float64()))

    result = run_step(LanguageFilter(keep=["en", "fr"], min_confidence=threshold, keep_unknown=keep_unknown),
                      [batch])

    expected = sum(1 for lang, conf in rows
                   if (lang is None and keep_unknown) or (lang in ("en", "fr") and conf >= threshold))
    assert result.output.num_rows == expected
    assert result.ledger.rows_in == len(rows) and result.ledger.balanced


# The accuracy floors below sit a few points under what was measured on this sample (all 75
# languages, high accuracy: 99.9% overall, 99.7% short, 100% paragraphs, no language under
# 98.3%; low-accuracy mode: 98.3%, 96.7%, 100%, mk 90%; benchmarks/bench_language.py): a
# regression trips them, lingua's noise does not.


@pytest.mark.slow
def test_lang_detect_accuracy_on_a_multilingual_sample() -> None:
    sample = multilingual_sample()
    out = _detect(DetectLanguage(), [text for _, _, text in sample])

    found = out["language"].to_pylist()
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for (code, kind, _), got in zip(sample, found, strict=True):
        totals[kind] += 1
        totals[code] += 1
        hits[kind] += got == code
        hits[code] += got == code
    assert len(FAKER_LOCALES) >= 12 and min(totals[c] for c in FAKER_LOCALES) >= 60
    assert sum(hits[c] for c in FAKER_LOCALES) / len(sample) >= 0.97
    assert hits["short"] / totals["short"] >= 0.95
    assert hits["paragraph"] / totals["paragraph"] >= 0.98
    assert all(hits[c] / totals[c] >= 0.9 for c in FAKER_LOCALES)


@pytest.mark.slow
def test_lang_detect_identifies_the_udhr_in_every_language() -> None:
    out = _detect(DetectLanguage(), list(UDHR_ARTICLE_1.values()))

    # Indonesian and Malay share most of their vocabulary; lingua reads this text as Malay.
    expected = [{"id", "ms"} if code == "id" else {code} for code in UDHR_ARTICLE_1]
    assert all(got in codes for got, codes in zip(out["language"].to_pylist(), expected, strict=True))


@pytest.mark.slow
def test_lang_detect_finds_mixed_documents_without_flagging_single_language_ones() -> None:
    mixed = mixed_sample()
    single = [text for _, kind, text in multilingual_sample() if kind == "paragraph"]
    step = DetectLanguage()

    flagged_mixed = _detect(step, [text for _, text in mixed])["mixed_language"].to_pylist()
    flagged_single = _detect(step, single)["mixed_language"].to_pylist()

    assert sum(bool(m) for m in flagged_mixed) / len(mixed) >= 0.9
    assert sum(bool(m) for m in flagged_single) / len(single) <= 0.03


@pytest.mark.slow
def test_language_steps_run_in_a_pipeline(tmp_path: Path, ws: Workspace) -> None:
    (tmp_path / "docs").mkdir()
    for code in ("en", "de", "fr", "es"):
        (tmp_path / "docs" / f"{code}.txt").write_text(UDHR_ARTICLE_1[code] + "\n", encoding="utf-8")
    pipeline = Pipeline.from_dict({
        "name": "multi",
        "steps": [
            {"id": "raw", "uses": "read.text", "with": {"paths": ["docs/"]}},
            {"id": "clean", "uses": "clean.text", "input": "raw"},
            {"id": "lang", "uses": "lang.detect", "input": "clean", "with": {"languages": ["en", "de", "fr", "es"]}},
            {"id": "keep", "uses": "filter.language", "input": "lang",
             "with": {"keep": ["de", "fr"], "min_confidence": 0.5}},
        ],
        "outputs": {"de_fr": "keep"},
    }, base_dir=tmp_path)

    result = pipeline.run(ws, workers=2)

    assert result.step("keep").dropped == {"language_not_kept": 2}
    assert sorted(ws.open("de_fr").to_arrow(["language"])["language"].to_pylist()) == ["de", "fr"]
