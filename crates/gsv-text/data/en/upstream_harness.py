"""How data/en/upstream_reference.jsonl was made (investigation only; not used by the build).

Runs upstream GPT-SoVITS `text.cleaner.clean_text(text, "en", "v2")` (commit 48b1a016, the
`GPT_SoVITS/text` folder copied next to this script as `text/`, with the data files of
../README.md and `namedict_cache.pickle` rebuilt from namedict.tsv) with the variant the
golden fixtures pin: NLTK's POS tagger replaced by one that tags every token "NN", and
g2p_en's NLTK cmudict (unused by GPT-SoVITS) stubbed out. Packages: g2p_en 2.1.0,
inflect 7.6.0, wordsegment 1.3.1, nltk 3.10.4, numpy 2.4.6, Python 3.11.7.

Input: JSON strings, one a line, on stdin. Output: one JSON object a line.
"""
import json
import sys

import nltk

nltk.download = lambda *a, **k: True


class _NoCmudict:
    def dict(self):
        return {}


nltk.corpus.cmudict = _NoCmudict()
nltk.pos_tag = lambda words: [(w, "NN") for w in words]
import g2p_en.g2p  # noqa: E402

g2p_en.g2p.cmudict = _NoCmudict()
from text import cleaner  # noqa: E402


def run(text):
    try:
        phones, _, norm = cleaner.clean_text(text, "en", "v2")
        return {"text": text, "norm_text": norm, "phones": " ".join(phones)}
    except Exception as e:  # upstream errors are part of the reference
        return {"text": text, "error": f"{type(e).__name__}: {e}"}


if __name__ == "__main__":
    for line in sys.stdin:
        print(json.dumps(run(json.loads(line)), ensure_ascii=False), flush=True)
