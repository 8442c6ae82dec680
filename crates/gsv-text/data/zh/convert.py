"""Regenerates the data files of this folder from the Python packages they come from.

Not used at build or run time; kept so the shipped data can be re-derived and checked.
Needs: pip install jieba_fast==0.53 pypinyin==0.55.0, and an upstream GPT-SoVITS checkout
(for text/zh_normalization/char_convert.py) passed as argv[1].

Formats (UTF-8, one record per line, fields separated by TAB, gzip-compressed where named .gz):
- jieba_dict.txt.gz: jieba_fast's dict.txt verbatim ("word freq tag").
- jieba_posseg.txt.gz / jieba_finalseg.txt.gz: HMM models. A state is "B-n" (posseg) or "B"
  (finalseg). Lines: "start STATE PROB", "trans STATE TO=PROB TO=PROB ...",
  "emit STATE CHAR=PROB ...", "chars CHAR STATE STATE ..." (posseg only: char_state_tab).
  Probabilities are Python float reprs (shortest round-trip), so parsing them is exact.
- pypinyin_single.txt.gz: "HEXCODEPOINT READINGS" (pypinyin pinyin_dict, readings comma-separated).
- pypinyin_phrases.txt.gz: "PHRASE READINGS" (pypinyin phrases_dict; one space-separated
  group per character, alternatives comma-separated).
- t2s.txt: "TRADITIONAL SIMPLIFIED", the effective (last-wins) mapping of upstream's
  zh_normalization/char_convert.py, identity pairs left out.
"""
import gzip
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write_gz(name, lines):
    with gzip.GzipFile(os.path.join(HERE, name), "wb", compresslevel=9, mtime=0) as f:
        f.write("".join(l + "\n" for l in lines).encode("utf-8"))


def state_name(s):
    return s if isinstance(s, str) else "-".join(s)


def hmm_lines(start, trans, emit, chars=None):
    out = []
    for s, p in start.items():
        out.append(f"start\t{state_name(s)}\t{p!r}")
    for s, d in trans.items():
        out.append("\t".join(["trans", state_name(s)] + [f"{state_name(t)}={p!r}" for t, p in d.items()]))
    for s, d in emit.items():
        out.append("\t".join(["emit", state_name(s)] + [f"{c}={p!r}" for c, p in d.items()]))
    if chars is not None:
        for c, states in chars.items():
            out.append("\t".join(["chars", c] + [state_name(s) for s in states]))
    return out


def main():
    import jieba_fast
    import jieba_fast.finalseg as fs
    import jieba_fast.posseg as ps
    import pypinyin

    jdir = os.path.dirname(jieba_fast.__file__)
    with open(os.path.join(jdir, "dict.txt"), "rb") as f:
        raw = f.read()
    with gzip.GzipFile(os.path.join(HERE, "jieba_dict.txt.gz"), "wb", compresslevel=9, mtime=0) as f:
        f.write(raw)
    write_gz("jieba_posseg.txt.gz", hmm_lines(ps.start_P, ps.trans_P, ps.emit_P, ps.char_state_tab_P))
    write_gz("jieba_finalseg.txt.gz", hmm_lines(fs.start_P, fs.trans_P, fs.emit_P))

    pdir = os.path.dirname(pypinyin.__file__)
    with open(os.path.join(pdir, "pinyin_dict.json"), encoding="utf-8") as f:
        single = json.load(f)
    write_gz("pypinyin_single.txt.gz", [f"{int(k):X}\t{v}" for k, v in single.items()])
    with open(os.path.join(pdir, "phrases_dict.json"), encoding="utf-8") as f:
        phrases = json.load(f)
    write_gz("pypinyin_phrases.txt.gz", [k + "\t" + " ".join(",".join(g) for g in v) for k, v in phrases.items()])

    spec = importlib.util.spec_from_file_location(
        "char_convert", os.path.join(sys.argv[1], "text", "zh_normalization", "char_convert.py")
    )
    cc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cc)
    with open(os.path.join(HERE, "t2s.txt"), "w", encoding="utf-8") as f:
        for t, s in cc.t2s_dict.items():
            if t != s:
                f.write(f"{t}\t{s}\n")


if __name__ == "__main__":
    main()
