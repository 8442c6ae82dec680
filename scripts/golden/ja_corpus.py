#!/usr/bin/env python3
"""Golden Japanese `clean_text` records from upstream GPT-SoVITS (text/japanese.py on pyopenjtalk).

Runs upstream's own Python frontend from a checkout you fetch yourself (nothing of it is copied
into this repository) and prints records in the fixture corpus format
(tests/fixtures/text/README.md, kind `clean_text`), for tests/fixtures/text/ja_extended.jsonl.

Environment (a venv): pyopenjtalk==0.4.1 (built from the PyPI sdist; needs cmake), pointed at
the OpenJTalk dictionary `open_jtalk_dic_utf_8-1.11` — Debian's open-jtalk-mecab-naist-jdic
ships the same files — because it cannot download its own:

  OPEN_JTALK_DICT_DIR=/var/lib/mecab/dic/open-jtalk/naist-jdic \\
      python scripts/golden/ja_corpus.py /path/to/GPT-SoVITS/GPT_SoVITS \\
      > tests/fixtures/text/ja_extended.jsonl

No user dictionary: upstream's ja_userdic/userdict.csv is not part of its repository checkout.
"""
import json
import random
import sys

HAND = {
    "num": [
        "りんごを3個買いました。", "今日は12月25日です。", "電話番号は03-1234-5678です。", "価格は1,980円です。",
        "円周率は3.14です。", "気温はマイナス5度です。", "100メートルを10秒で走った。", "身長は175センチです。",
        "体重は60.5キロです。", "0.01秒の差だった。", "第1章を読んでください。", "1人、2人、3人。", "2匹の猫と3本の鉛筆。",
        "５０００円札", "１２３４５６７８９", "123456789", "10000人が集まった。", "1億2345万6789円", "20歳になりました。",
        "3分の1を食べた。", "50%オフのセールです。", "消費税は１０％です。", "2時間30分かかります。", "午前9時に出発します。",
        "1000000000000", "00123", "7月7日は七夕です。", "一二三四五", "二十一世紀", "百円ショップ", "三千人",
        "4月1日はエイプリルフールです。", "12:30に会いましょう。", "3回目の挑戦です。", "8月15日", "九十九里浜",
        "1つ、2つ、3つ", "10本のペン", "6階にあります。", "1994年生まれです。", "0", "1", "10", "11", "101", "1001",
    ],
    "date": [
        "2024年1月1日は元日です。", "平成31年4月30日", "令和元年5月1日", "昭和64年", "2023年12月31日23時59分",
        "明治時代の話です。", "毎週月曜日の午後3時", "来年の3月", "一昨日から雨が降っている。", "明後日は休みです。",
        "1月から12月まで", "10月10日は体育の日でした。", "今朝7時に起きた。", "金曜日の夜", "5月5日こどもの日",
    ],
    "latin": [
        "NHKのニュースを見ました。", "USBメモリを使います。", "iPhoneを買った。", "AIの研究をしています。",
        "CDとDVDを借りた。", "Tシャツを着る。", "OKです。", "PCが壊れた。", "JRの駅", "abcの歌", "ABC", "xyz",
        "ＡＢＣ全角", "ｈｅｌｌｏ", "SNSで話題です。", "Wi-Fiのパスワード", "YouTubeで動画を見る。", "GPT-4を使う。",
        "e-mailを送った。", "mp3ファイル", "Aさんと Bさん", "tokyo tower に行きましょう", "Hello World",
    ],
    "punct": [
        "本当に？！", "すごい！！！", "えーと…わかりません。", "「こんにちは」と言った。", "『吾輩は猫である』",
        "（注）これは例です。", "はい、はい、わかりました。", "りんご・みかん・ぶどう", "第一に：早起き；第二に：運動。",
        "え？？何？？", "ああ……", "そうですね。。。", "待って、、、", "【お知らせ】明日は休みです。", "〜から〜まで",
        "ほ〜", "あっ！", "ん？", "ー", "・・・", "！？", "、、、", "。", "こんにちは。\nさようなら。", "行く\n",
        "#タグ", "@ユーザー", "100$", "★星★", "♪音楽♪", "〇✕問題", "一、二、三", "A/Bテスト", "a+b=c",
        "  前後の空白  ", "タブ\t文字", "ｶﾀｶﾅ半角", "ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ", "ｶﾞｷﾞｸﾞ", "々", "時々", "人々が集まる。",
    ],
    "word": [
        "今日は", "明日", "昨日", "一日", "日本", "日本人", "大人", "子供たち", "お父さん", "お母さん",
        "東京都庁", "大阪府", "北海道", "京都", "富士山", "東京スカイツリー", "新幹線", "自動販売機",
        "ありがとう", "すみません", "おはようございます", "こんばんは", "いただきます", "ごちそうさまでした",
        "がっこう", "きって", "ちょっと", "しゃしん", "きゅうり", "びょういん", "ぴゃく", "ヴァイオリン", "ティーカップ",
        "ディズニー", "ファミリー", "フィルム", "ウィキペディア", "ウォーター", "ツァー", "チェック", "シェフ", "ジェット",
        "デュエット", "トゥー", "クォーター", "グァム", "ぁぃぅぇぉ", "ゎ", "ゐゑ", "ヵヶ", "ゔ", "ヷヸヹヺ",
        "走る", "走った", "走らない", "食べる", "食べた", "食べます", "行きましょう", "見られる", "書かせる",
        "美しい", "美しかった", "静かな", "学生です", "学生でした", "学生ではありません", "できる", "来る", "来た",
        "言う", "言った", "思う", "思います", "考えている", "しています", "してください", "しなければならない",
    ],
    "long": [
        "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。",
        "国境の長いトンネルを抜けると雪国であった。夜の底が白くなった。信号所に汽車が止まった。",
        "親譲りの無鉄砲で小供の時から損ばかりしている。小学校に居る時分学校の二階から飛び降りて一週間ほど腰を抜かした事がある。",
        "今日は朝から雨が降っていたので、傘を持って駅まで歩きましたが、電車が遅れていて会社に着いたのは九時半でした。",
        "この度は弊社の製品をお買い上げいただき、誠にありがとうございます。ご使用の前に、この取扱説明書をよくお読みください。",
        "東京から大阪までは新幹線で約2時間30分かかり、料金は片道13,870円です。飛行機なら1時間ほどで着きます。",
        "春はあけぼの。やうやう白くなりゆく山ぎは、すこしあかりて、紫だちたる雲のほそくたなびきたる。",
        "昨日、友達と一緒に渋谷で映画を見てから、近くのレストランでイタリア料理を食べて、夜の十時ごろに家に帰りました。",
        "人工知能の研究は、1950年代に始まり、現在では画像認識や音声認識、機械翻訳など、さまざまな分野で応用されています。",
        "明日の天気は、晴れのち曇り、ところにより雨でしょう。最高気温は25度、最低気温は18度の予想です。",
        "祇園精舎の鐘の声、諸行無常の響きあり。沙羅双樹の花の色、盛者必衰の理をあらはす。",
        "メロスは激怒した。必ず、かの邪智暴虐の王を除かなければならぬと決意した。メロスには政治がわからぬ。",
    ],
    "mix": [
        "日本語と中文を混ぜる", "我爱你は中国語です", "한국어と日本語", "Привет、こんにちは", "καλημέρα",
        "😀笑顔", "café に行く", "naïve な考え", "Ⅲ章", "①番", "½カップ", "x²", "ß", "İstanbul", "Ａｂｃ",
        "ＡＢＣＤＥＦＧ", "ＡＢＣ。ＤＥＦ", "漢字だけの文章", "ひらがなだけのぶんしょう", "カタカナダケノブンショウ",
        "東京タワーとTOKYO TOWER", "三月三日、ひなまつり。", "零", "〇", "一〇〇",
    ],
}

SUBJECTS = "私は 彼は 彼女は 先生が 子供たちが 犬が 猫が 友達が 父は 母は 社長が 学生たちは".split()
OBJECTS = "ご飯を 本を 映画を 音楽を 手紙を りんごを コーヒーを 宿題を 歌を 写真を 服を ドアを 窓を 花を 水を".split()
VERBS = "食べた 読みました 見ました 聞いた 書きます 買った 飲んだ した 歌いました 撮った 着た 開けた 閉めました 植えた".split()
PLACES = "学校で 家で 公園で 会社で 東京で 大阪で カフェで 図書館で 海で 山で 駅前で".split()
COUNTERS = "個 人 匹 冊 歳 時 分 回 円 年 月 日 階 杯 本 台 枚 キロ メートル".split()


def generated(rng, n):
    out = []
    for _ in range(n):
        parts = [rng.choice(SUBJECTS)]
        if rng.random() < 0.6:
            parts.append(rng.choice(PLACES))
        if rng.random() < 0.5:
            num = rng.choice([str(rng.randint(0, 30)), str(rng.randint(0, 10 ** rng.randint(2, 9))), f"{rng.randint(1, 99999):,}"])
            parts.append(num + rng.choice(COUNTERS))
        if rng.random() < 0.2:
            parts.append("".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(1, 4))) + "の")
        parts.append(rng.choice(OBJECTS))
        parts.append(rng.choice(VERBS))
        sep = rng.choice(["", "", " ", "、"])
        out.append(sep.join(parts) + rng.choice(["。", "！", "？", "…", "", "！！", "。。", "?", "."]))
    return out


def main():
    sys.path.insert(0, sys.argv[1])
    from text.cleaner import clean_text
    from text import cleaned_text_to_sequence

    rng = random.Random(14)
    items = [(cat, t) for cat, texts in HAND.items() for t in texts]
    items += [("gen", t) for t in generated(rng, 120)]
    for n, (cat, text) in enumerate(items):
        # v1 shares the module; every fourth input also pins v1's table (`[`/`]` are UNK there).
        versions = ["v2", "v1"] if n % 4 == 0 else ["v2"]
        for version in versions:
            rec = {"kind": "clean_text", "id": f"ext-ja-{cat}-{n:03d}", "text": text, "language": "ja", "version": version}
            try:
                phones, word2ph, norm_text = clean_text(text, "ja", version)
                rec.update(norm_text=norm_text, phones=phones,
                           phone_ids=cleaned_text_to_sequence(phones, version), word2ph=word2ph)
            except Exception as e:  # upstream raised: the port must fail too
                rec["error"] = f"{type(e).__name__}: {e}"
            rec["category"] = "ja"
            print(json.dumps(rec, ensure_ascii=False))


if __name__ == "__main__":
    main()
