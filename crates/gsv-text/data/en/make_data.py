"""Regenerates the derived files in this folder from the PyPI packages g2p_en==2.1.0 and
wordsegment==1.3.1 (both Apache-2.0). Not used at build or run time; kept for reproducibility.

    pip install g2p_en==2.1.0 wordsegment==1.3.1 numpy
    python make_data.py
"""
import gzip
import os
import shutil

import numpy as np
import g2p_en
import wordsegment

HERE = os.path.dirname(os.path.abspath(__file__))

# g2p_en's GRU checkpoint: the 12 arrays, in this order, as raw little-endian f32.
ORDER = ["enc_emb", "enc_w_ih", "enc_w_hh", "enc_b_ih", "enc_b_hh",
         "dec_emb", "dec_w_ih", "dec_w_hh", "dec_b_ih", "dec_b_hh", "fc_w", "fc_b"]
npz = np.load(os.path.join(os.path.dirname(g2p_en.__file__), "checkpoint20.npz"))
with open(os.path.join(HERE, "g2p_en_checkpoint20.f32"), "wb") as f:
    for name in ORDER:
        f.write(np.ascontiguousarray(npz[name], dtype="<f4").tobytes())
shutil.copy(os.path.join(os.path.dirname(g2p_en.__file__), "homographs.en"), HERE)

# wordsegment's unigram/bigram counts. Bigrams are kept only where both words consist of
# [a-z0-9] and the first word is a unigram: wordsegment only consults a bigram when the
# previous word is a unigram, and it only ever sees cleaned [a-z0-9] text.
wsdir = os.path.dirname(wordsegment.__file__)
uni = {}
for line in open(os.path.join(wsdir, "unigrams.txt"), encoding="utf-8"):
    w, c = line.rstrip("\n").split("\t")
    uni[w] = c
ok = set("abcdefghijklmnopqrstuvwxyz0123456789")
bi = {}
for line in open(os.path.join(wsdir, "bigrams.txt"), encoding="utf-8"):
    k, c = line.rstrip("\n").split("\t")
    a, b = k.split(" ")
    if a in uni and set(a) <= ok and set(b) <= ok:
        bi[k] = c
with gzip.GzipFile(os.path.join(HERE, "wordsegment.tsv.gz"), "wb", compresslevel=9, mtime=0) as f:
    for w in sorted(uni):
        f.write(f"{w}\t{uni[w]}\n".encode())
    f.write(b"\n")
    for k in sorted(bi):
        f.write(f"{k}\t{bi[k]}\n".encode())
