"""Labelling functions for the demo: the Snorkel spam tutorial's rules, as datamill LFs.

The tutorial (snorkel-tutorials, ``spam/01_spam_tutorial``) writes ten LFs. These are the seven
that need no third-party model, with the same semantics: its keyword LFs test
``word in text.lower()`` (a substring, so ``whole_words=False``), ``regex_check_out`` is
``re.search(r"check.*out", text, flags=re.I)`` and ``short_comment`` is
``len(text.split()) < 5``. The other three use spaCy's ``en_core_web_sm`` (``has_person_nlp``)
and TextBlob (``textblob_polarity``, ``textblob_subjectivity``); see
``benchmarks/bench_label_model.py`` for those.

Class 0 is ham and class 1 spam, as in the data's ``CLASS`` column.
"""

from datamill.label import KeywordLF, LengthLF, RegexLF

LABELS = ["ham", "spam"]

# Spam comments talk about "my channel", "my video"...
keyword_my = KeywordLF("keyword_my", ["my"], "spam", whole_words=False)
# ...ask people to subscribe...
keyword_subscribe = KeywordLF("keyword_subscribe", ["subscribe"], "spam", whole_words=False)
# ...post links to other channels...
keyword_link = KeywordLF("keyword_link", ["http"], "spam", whole_words=False)
# ...and make requests rather than comment.
keyword_please = KeywordLF("keyword_please", ["please", "plz"], "spam", whole_words=False)
# Ham comments talk about the song...
keyword_song = KeywordLF("keyword_song", ["song"], "ham", whole_words=False)
# "check out my channel", "check it out", "check me out"
regex_check_out = RegexLF("regex_check_out", r"check.*out", "spam", ignore_case=True)
# ...and are often short: "cool video!"
short_comment = LengthLF("short_comment", "ham", max_words=4)
