#!/usr/bin/env python3
"""Record MeCab's analyses as the oracle for crates/gsv-text/src/mecab (tests/mecab_oracle.rs).

  ko: python-mecab-ko 1.3.7 (mecab-ko) + python-mecab-ko-dic 2.1.1.post2 — what upstream's g2pk2 loads.
  ja: Debian's `mecab` (MeCab 0.996) with OpenJTalk's naist-jdic (apt open-jtalk-mecab-naist-jdic).

Usage (in a venv with python-mecab-ko==1.3.7 python-mecab-ko-dic==2.1.1.post2; `mecab` on PATH):
  python scripts/golden/mecab_oracle.py ko > tests/fixtures/text/mecab_ko.jsonl
  python scripts/golden/mecab_oracle.py ja > tests/fixtures/text/mecab_ja.jsonl
Each line: {"text": ..., "nodes": [[surface, feature, cumulative cost], ...]} (BOS/EOS omitted).
The sentences are fixed hand-written ones plus seeded random mixes of words, digits, Latin
letters, symbols and spaces, so unknown-word processing and tie-breaking are exercised.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

KO = """안녕하세요, 만나서 반갑습니다.
저는 한국어를 공부하고 있어요.
오늘 날씨가 정말 좋네요!
사과 3개와 배 2개를 샀어요.
지금은 2024년입니다.
이 책은 15,000원입니다.
감사합니다.
어디에 가세요?
값이 얼마예요?
KBS 뉴스를 봤어요.
읽고 싶은 책이 많아요.
서울에서 부산까지 400km예요.
나는 학교에 갔다가 집으로 돌아왔다.
그 사람은 항상 웃으면서 인사를 한다.
밥을 먹었니? 아직 안 먹었어.
우리 내일 영화 보러 갈까요?
대한민국의 수도는 서울입니다.
회의는 오후 3시 30분에 시작합니다.
전화번호는 010-1234-5678입니다.
2023년 12월 25일은 크리스마스였다.
할머니께서 맛있는 떡을 만들어 주셨어요.
컴퓨터가 갑자기 꺼져서 당황했어요.
이 문제는 생각보다 훨씬 어렵네요.
여름에는 바다에 가고 겨울에는 스키를 타요.
그는 ChatGPT로 보고서를 썼다.
USB 메모리에 파일을 저장하세요.
물가가 3.5% 올랐습니다.
아이들이 놀이터에서 뛰어놀고 있다.
첫째, 둘째, 셋째 순서대로 서세요.
닭고기와 삶은 달걀을 좋아해요.
넓은 들판에 꽃이 피었다.
없었던 일로 하자.
읊조리는 소리가 들렸다.
몇 시에 만날까요?
백두산은 높고 한라산은 아름답다.
"정말이야?"라고 그가 물었다.
오늘은 (토요일) 쉬는 날입니다!!!
음... 잘 모르겠어요~
한국 전쟁은 1950년에 일어났다.
선생님, 질문이 있습니다.
이것은 연필이고 저것은 지우개입니다.
빨리 빨리 해 주세요.
그녀는 피아노를 잘 칩니다.
비가 와서 우산을 썼어요.
저는 커피보다 차를 더 좋아합니다.
이번 주말에 뭐 할 거예요?
모든 사람은 태어날 때부터 자유롭다.
역사는 반복된다고 한다.
책상 위에 고양이가 앉아 있다.
늦어서 죄송합니다.
축하해요! 생일 축하합니다.
내 동생은 초등학교 5학년이다.
이 길로 쭉 가면 지하철역이 나와요.
한글은 세종대왕이 만들었다.
철수가 영희에게 편지를 보냈다.
그럼 이만 실례하겠습니다.
삼겹살 2인분 주세요.
시험 점수가 95점이에요.
학생증을 보여 주시겠어요?
오랜만이에요. 잘 지냈어요?""".split("\n")

JA = """きゃりーぱみゅぱみゅが好きです。
今日はいい天気ですね。
私は東京に住んでいます。
明日の会議は午後3時からです。
この本は1500円でした。
すみません、駅はどこですか？
日本語を勉強しています。
彼はコンピューターのエンジニアです。
猫が窓の外を見ている。
昨日、友達と映画を見に行きました。
ＡＢＣとabcは違います。
富士山は日本一高い山です。
「こんにちは」と彼女は言った。
東京オリンピックは2021年に開催された。
お茶でも飲みませんか？
この問題は難しすぎる……
ラーメンを食べたい！
スマートフォンの電池が切れた。
春になると桜が咲きます。
京都には古いお寺がたくさんあります。
電話番号は03-1234-5678です。
ChatGPTを使って文章を書いた。
一緒に行こうよ。
雨が降っているので傘を持って行きなさい。
吾輩は猫である。名前はまだ無い。
新幹線で大阪まで行きます。
ありがとうございました。
これは何ですか？
走れメロス。
彼女の笑顔が忘れられない。""".split("\n")

KO_WORDS = "나 너 우리 학교 집 사람 시간 오늘 내일 어제 친구 선생님 공부 음식 물 밥 책 영화 음악 노래 한국 서울 부산 회사 일 사랑 마음 하늘 바다 산 꽃 나무 고양이 강아지 자동차 컴퓨터 전화 휴대폰 가방 신발 옷".split()
KO_PARTS = "은 는 이 가 을 를 에 에서 으로 로 와 과 도 만 의 에게 께서 부터 까지".split()
KO_VERBS = "가요 와요 먹어요 봤어요 했습니다 합니다 좋아요 싫어요 있어요 없어요 갔다 왔다 먹었다 읽었다 만들었다 예쁘다 크다 작다 좋네요 갈까요 하자".split()
JA_WORDS = "私 あなた 学校 家 人 時間 今日 明日 昨日 友達 先生 勉強 食べ物 水 ご飯 本 映画 音楽 歌 日本 東京 大阪 会社 仕事 愛 心 空 海 山 花 木 猫 犬 車 パソコン 電話 スマホ かばん 靴 服".split()
JA_PARTS = "は が を に で と も の から まで へ".split()
JA_VERBS = "行きます 来ます 食べます 見ました した します 好きです 嫌いです あります ない 行った 来た 読んだ 作った きれいだ 大きい 小さい いいね 行こう".split()
EXTRA = ["123", "3.14", "2024", "10%", "ABC", "abc", "Hello", "iPhone", "GPT-4", "!", "?", ",", ".", "...", "~", "(", ")", "\"", "'", "—", "·", "★", "😀", "漢字", "中文", "ひらがな", "カタカナ", "한글", "ｶﾀｶﾅ", "ＡＢＣ", "１２３", "\u3000", "\t", "  "]


def random_sentences(words, parts, verbs, n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        toks = []
        for _ in range(rng.randint(1, 7)):
            r = rng.random()
            if r < 0.55:
                toks.append(rng.choice(words) + (rng.choice(parts) if rng.random() < 0.7 else ""))
            elif r < 0.8:
                toks.append(rng.choice(verbs))
            else:
                toks.append(rng.choice(EXTRA))
        sep = " " if words is KO_WORDS else rng.choice(["", "", " "])
        out.append(sep.join(toks) + rng.choice(["", ".", "!", "?", "。"]))
    return out


def ko_records(sentences):
    import mecab
    from mecab.utils import create_lattice

    tagger = mecab.MeCab()._tagger
    for s in sentences:
        lattice = create_lattice(s)
        assert tagger.parse(lattice)
        yield {"text": s, "nodes": [[n.surface, n.feature, n.cost] for _, n in lattice]}


def ja_records(sentences):
    src = "/var/lib/mecab/dic/open-jtalk/naist-jdic"
    with tempfile.TemporaryDirectory() as d:
        for f in os.listdir(src):
            os.symlink(os.path.join(src, f), os.path.join(d, f))
        # Debian's naist-jdic ships no dicrc; the CLI needs one with a bos-feature.
        with open(os.path.join(d, "dicrc"), "w") as f:
            f.write("bos-feature = BOS/EOS,*,*,*,*,*,*,*,*\n")
        for s in sentences:
            # One sentence per call: the CLI splits its input at newlines.
            out = subprocess.run(["mecab", "-d", d, "-F", "%m\\t%H\\t%pc\\n", "-E", "EOS\\n"],
                                 input=s + "\n", capture_output=True, text=True, check=True).stdout
            nodes = []
            for line in out.split("\n"):
                if line == "EOS":
                    break
                surface, feature, cost = line.split("\t")
                nodes.append([surface, feature, int(cost)])
            yield {"text": s, "nodes": nodes}


def main():
    lang = sys.argv[1]
    if lang == "ko":
        sentences = KO + random_sentences(KO_WORDS, KO_PARTS, KO_VERBS, 240, 14)
        records = ko_records(sentences)
    else:
        sentences = JA + random_sentences(JA_WORDS, JA_PARTS, JA_VERBS, 200, 15)
        # The CLI reads lines; tabs/newlines inside a sentence would be split by it.
        sentences = [s.replace("\t", " ") for s in sentences]
        records = ja_records(sentences)
    for r in records:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
