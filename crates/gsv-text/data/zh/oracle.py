"""Generates `oracle_corpus.jsonl.gz`: upstream outputs for many generated Chinese inputs.

Not used at build or run time. Usage (see crates/gsv-text/data/zh/README.md):
  python oracle.py UPSTREAM_TEXT_PARENT FIXTURES_JSONL SITE_PACKAGES OUT.jsonl
where UPSTREAM_TEXT_PARENT holds upstream `GPT_SoVITS/text` as `text/` with chinese2.py's
`is_g2pw = True` changed to False (the variant the fixtures pin), and SITE_PACKAGES has
jieba_fast 0.53 and pypinyin 0.55.0. Each record: text, version, tn_sentences, and
norm_text/phones/word2ph or error — the fields of the public fixtures.
"""
import json
import random
import re
import sys

UP, FIXTURES, SITE, OUT = sys.argv[1:5]
sys.path.insert(0, UP)
from text.cleaner import clean_text  # noqa: E402
from text.zh_normalization.text_normlization import TextNormalizer  # noqa: E402


def run(text, ver):
    r = {"tn_sentences": TextNormalizer().normalize(text)}
    try:
        ph, w2p, nt = clean_text(text, "zh", ver)
        r.update(norm_text=nt, phones=ph, word2ph=w2p)
    except Exception as e:  # upstream raising is part of the expected output
        r["error"] = f"{type(e).__name__}: {e}"
    return r


def corpus_fixtures_and_templates():
    """Fixture texts and segments, random dictionary-word sentences, rare characters, number templates."""
    random.seed(0)
    texts=[]
    # (a) fixture texts with Han characters
    for l in open(FIXTURES):
        r=json.loads(l)
        for k in ('text',):
            t=r.get(k)
            if isinstance(t,str) and re.search(r'[\u4e00-\u9fff]',t): texts.append(t)
        for s in r.get('segments',[]) or []:
            if isinstance(s,str) and re.search(r'[\u4e00-\u9fff]',s): texts.append(s)
    texts=list(dict.fromkeys(texts))
    # (d) random word sequences from jieba dict
    words=[];freqs=[]
    for line in open(SITE + '/jieba_fast/dict.txt',encoding='utf-8'):
        w,f,t=line.split()
        if re.fullmatch(r'[\u4e00-\u9fa5]+',w): words.append(w); freqs.append(int(f)**0.5)
    import itertools; cum=list(itertools.accumulate(freqs))
    punct=list('，。！？、；：…—~“”《》（）')+['……','——']
    special=['一','不','儿','个','了','着','过','的','地','得','们','子','上','下','里','来','去','一个','一下','不是','看一看','好好','试试','妈妈','哪儿','这儿','那儿','一点儿','小孩儿','老老实实','五','把','雨伞','展览馆','老鼠','很好','你们','我们','小','老虎','纸老虎']
    for i in range(1500):
        n=random.randint(2,14)
        ws=[]
        for j in range(n):
            r=random.random()
            if r<0.2: ws.append(random.choice(special))
            elif r<0.3: ws.append(random.choice(punct))
            else: ws.append(random.choices(words,cum_weights=cum)[0])
        texts.append(''.join(ws))
    # random rare chars
    for i in range(100):
        texts.append(''.join(chr(random.randint(0x4e00,0x9fa5)) for _ in range(random.randint(1,8))))
    # (c) templates
    def num(): return random.choice([str(random.randint(0,100)),str(random.randint(0,99999)),str(random.randint(0,10**12)),f"{random.randint(0,999)}.{random.randint(0,999)}",'0'+str(random.randint(0,99)), '-'+str(random.randint(1,99))])
    tpl=['价格是{n}元','增长了{n}%','{y}年{m}月{d}日','{y}-{m2}-{d2}','{y}/{m2}/{d2}','{h}:{mi}','{h}:{mi}:{s}','{h}:{mi}-{h}:{mi}','{h}:{mi}~{h}:{mi}','温度{n}°C','温度是-{a}℃','长{n}km','重{n}kg','{a}/{b}','{a}+{b}={c}','{a}×{b}','{a}÷{b}','{a}-{b}','{a}~{b}','第{a}名','{a}个人','{a}多人','{a}+人','电话{tel}','号码是{mob}','+86 {mob}','{a}m²的房子','{n}cm','版本{a}.{b}.{c}','x²+y³','编号{z}','共{a}万','约{a}.{b}亿','{a}-{b}岁','{a}~{b}%','{a}%~{b}%','①②③','α和β','2的10次方','{a}点{b}分','早上{h}点','１２３个','ＡＢＣ','{n}','第{a}章第{b}节','{a}年','{a}月{b}号','{m}月','{a}.{b}','.{a}','{a}..{b}','iPhone {a}','{a}s后','{a}ms','{a}db','{a}ml水','{a}mm','{a}ds']
    for i in range(800):
        t=random.choice(tpl)
        s=t.format(n=num(),y=random.choice([str(random.randint(1000,2099)),str(random.randint(10,99))]),m=random.randint(1,13),d=random.randint(1,32),m2=f"{random.randint(1,12):02d}",d2=f"{random.randint(1,31):02d}",h=random.randint(0,25),mi=f"{random.randint(0,60):02d}",s=f"{random.randint(0,59):02d}",a=random.randint(0,200),b=random.randint(0,200),c=random.randint(0,999),tel=random.choice(['010-'+str(random.randint(1000000,99999999)),'0755-'+str(random.randint(1000000,99999999)),'400-'+str(random.randint(100,999))+'-'+str(random.randint(1000,9999)),str(random.randint(2000000,99999999))]),mob='1'+random.choice(['38','39','50','86','77','98','25'])+str(random.randint(10**7,10**8-1)),z=f"{random.randint(0,999):03d}")
        pre=random.choice(['','他说','今天','我们的','这是','大约'])
        post=random.choice(['','。','，好吗？','！','了。','左右'])
        texts.append(pre+s+post)
    return texts


def corpus_long_random():
    """Long sentences: third-tone runs, 一/不/儿 words, rare characters, Latin and symbols mixed in."""
    random.seed(7)
    words=[];freqs=[]
    for line in open(SITE + '/jieba_fast/dict.txt',encoding='utf-8'):
        w,f,t=line.split()
        if re.fullmatch(r'[\u4e00-\u9fa5]+',w): words.append(w); freqs.append(int(f)**0.4)
    import itertools; cum=list(itertools.accumulate(freqs))
    single=json.load(open(SITE + '/pypinyin/pinyin_dict.json'))
    t3=[chr(int(k)) for k,v in single.items() if 0x4e00<=int(k)<=0x9fa5 and any(c in v.split(',')[0] for c in 'ǎěǐǒǔǚ')]
    common3=[c for c in t3 if c in '我你她好很小老手水马米买卖走跑打把远美早党左满草鸟狗鼠虎马五九也有几点写水可想每雨伞展览馆所以许'] or t3[:50]
    punct=list('，。！？、；：…~')+['……','——',' ','\n','.',',','!','?','-']
    texts=[]
    for i in range(1200):
        ws=[]
        for j in range(random.randint(10,30)):
            r=random.random()
            if r<0.08: ws.append(random.choice(punct))
            elif r<0.16: ws.append(''.join(random.choice(common3) for _ in range(random.randint(1,4))))
            elif r<0.22: ws.append(random.choice(['一','不','儿','一个','不要','一样','看看','想一想','说说','们','子','个','了','着','过','得','地','的','吧','呢','啊','哪儿','一会儿','这儿','玩儿','花儿','女儿','好不好','对不对','一天','一年','第一','一二三','十一']))
            elif r<0.25: ws.append(chr(random.randint(0x4e00,0x9fa5)))
            else: ws.append(random.choices(words,cum_weights=cum)[0])
        texts.append(''.join(ws))
    for i in range(300):
        ws=[]
        for j in range(random.randint(3,10)):
            ws.append(random.choice([random.choices(words,cum_weights=cum)[0], ''.join(chr(random.randint(0x4e00,0x9fa5)) for _ in range(random.randint(1,3))), random.choice(['Hello','iPhone','OK','GPT','ms','km','A','3.5','２０２４','ＡＢ','1/2','50%','9:30','-3','+','=','x²'])]))
        texts.append(''.join(ws))
    return texts


def main():
    texts = list(dict.fromkeys(corpus_fixtures_and_templates() + corpus_long_random()))
    with open(OUT, "w", encoding="utf-8") as out:
        for t in texts:
            for v in ("v2", "v1"):
                r = run(t, v)
                r.update(text=t, version=v)
                out.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
