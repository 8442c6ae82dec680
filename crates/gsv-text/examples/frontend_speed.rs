//! Text-frontend speed for a 100-character sentence per language setting, and the language
//! identifier's time per call. Run from the repository root after scripts/setup.sh:
//! `cargo run --release -p gsv-text --example frontend_speed [LANG ...]` (default: yue auto).
//! Each line: setting, characters, median and mean milliseconds over the runs (the first call,
//! which loads the dictionaries, is reported separately).
use std::time::Instant;

use gsv_text::lid;
use gsv_text::{preprocess, LanguageSetting, SplitMethod, Version};

/// 100-character sentences (no sentence split inside, so one segment each under cut0).
fn sentence(setting: LanguageSetting) -> String {
    let text = match setting {
        LanguageSetting::Yue | LanguageSetting::AllYue => {
            "我哋今日去飲茶，佢話呢間酒樓嘅點心好好食，不過要排好耐隊。我諗住食完之後再去行街，買啲嘢俾屋企人，順便睇下有冇新嘅電話出，你得唔得閒一齊嚟呀？如果唔得閒都唔緊要，下個禮拜我哋再約過啦，好唔好呀？一言為定！"
        }
        LanguageSetting::Auto | LanguageSetting::AutoYue => {
            "我们今天用Python写了一个新的小程序，测试结果非常好。The results look great, and everyone is happy! 下午还要和同事们一起开会，讨论下一步的计划和预算。"
        }
        LanguageSetting::En => {
            "The quick brown fox jumps over the lazy dog while the children play outside in the warm afternoon sun."
        }
        _ => "今天天气很好，我们一起去公园散步吧。公园里有很多人在跑步、打太极拳，还有小朋友在放风筝。我们走累了就坐在湖边的长椅上休息，看着湖面上的小船慢慢地划过去，心情特别好。晚上回家以后，我们做了一顿丰盛的晚饭。",
    };
    text.chars().take(100).collect()
}

fn stats(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms.iter().sum::<f64>() / ms.len() as f64)
}

fn main() -> Result<(), gsv_text::Error> {
    let t = Instant::now();
    let detector = lid::init(&lid::default_model_path())?;
    println!("lid model load ({}): {:.1} ms", detector.path().display(), t.elapsed().as_secs_f64() * 1e3);
    let probe = "我们明天见";
    let runs = 2000;
    let t = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(detector.detect_scored(probe, 5, 0.01));
    }
    println!("lid detect k=5 ({} chars): {:.1} µs per call", probe.chars().count(), t.elapsed().as_secs_f64() * 1e6 / runs as f64);
    let long = sentence(LanguageSetting::Zh);
    let t = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(detector.detect_scored(&long, 1, 0.0));
    }
    println!("lid detect k=1 (100 chars, cut to 80): {:.1} µs per call", t.elapsed().as_secs_f64() * 1e6 / runs as f64);

    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings: Vec<LanguageSetting> = if args.is_empty() {
        vec![LanguageSetting::Yue, LanguageSetting::Auto]
    } else {
        args.iter().map(|a| a.parse()).collect::<Result<_, _>>()?
    };
    for setting in settings {
        let text = sentence(setting);
        let t = Instant::now();
        let segments = preprocess(&text, setting, SplitMethod::Cut0, Version::V2)?;
        let first = t.elapsed().as_secs_f64() * 1e3;
        let phones: usize = segments.iter().map(|s| s.phones.len()).sum();
        let times: Vec<f64> = (0..50)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(preprocess(&text, setting, SplitMethod::Cut0, Version::V2)).ok();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let (median, mean) = stats(times);
        println!(
            "{setting}: {} chars → {phones} phones: median {median:.2} ms, mean {mean:.2} ms (first call {first:.0} ms)",
            text.chars().count()
        );
    }
    Ok(())
}
