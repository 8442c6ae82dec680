//! upstream: text/japanese.py::pyopenjtalk_g2p_prosody (espnet's `phoneme_tokenizer`) — phones
//! and prosody marks read off OpenJTalk's full-context labels.
//!
//! Marks: `^`/`$` utterance start/end (`?` instead of `$` for a question), `_` pause, `#`
//! accent-phrase border, `[` pitch rise, `]` pitch fall. The label fields are read with the
//! same patterns upstream uses, so a field OpenJTalk writes as `xx` reads as -50 exactly as there.
use std::sync::OnceLock;

use regex::Regex;

/// The label fields upstream reads, each by the first match of its pattern.
struct Fields {
    phoneme: Regex,
    a1: Regex,
    a2: Regex,
    a3: Regex,
    f1: Regex,
    e3: Regex,
}

fn fields() -> &'static Fields {
    static F: OnceLock<Fields> = OnceLock::new();
    F.get_or_init(|| {
        let re = |p: &str| Regex::new(p).expect("static pattern");
        Fields {
            phoneme: re(r"-(.*?)\+"),
            a1: re(r"/A:([0-9\-]+)\+"),
            a2: re(r"\+(\d+)\+"),
            a3: re(r"\+(\d+)/"),
            f1: re(r"/F:(\d+)_"),
            e3: re(r"!(\d+)_"),
        }
    })
}

/// `_numeric_feature_by_regex`: the captured integer, -50 when the pattern does not match.
/// [quirk] `a1` may capture a lone `-` or digits with inner dashes; Python's `int()` would raise
/// there, OpenJTalk never writes such a field, so -50 stands in.
fn numeric(re: &Regex, label: &str) -> i64 {
    re.captures(label).and_then(|c| c[1].parse().ok()).unwrap_or(-50)
}

/// `pyopenjtalk_g2p_prosody(text, drop_unvoiced_vowels=True)` on the labels of one run.
pub fn g2p_prosody<S: AsRef<str>>(labels: &[S]) -> Vec<String> {
    let f = fields();
    let n_labels = labels.len();
    let mut phones = Vec::with_capacity(2 * n_labels);
    for (n, label) in labels.iter().enumerate() {
        let label = label.as_ref();
        let mut p3 = f.phoneme.captures(label).map(|c| c[1].to_string()).unwrap_or_default();
        // [quirk] `p3 in "AEIOU"` is a substring test: unvoiced vowels become plain vowels.
        if "AEIOU".contains(p3.as_str()) {
            p3 = p3.to_lowercase();
        }
        if p3 == "sil" {
            if n == 0 {
                phones.push("^".to_string());
            } else if n == n_labels - 1 {
                match numeric(&f.e3, label) {
                    0 => phones.push("$".to_string()),
                    1 => phones.push("?".to_string()),
                    _ => {}
                }
            }
            continue;
        }
        if p3 == "pau" {
            phones.push("_".to_string());
            continue;
        }
        let Some(next) = labels.get(n + 1) else {
            // OpenJTalk always closes an utterance with `sil`; upstream would raise here.
            phones.push(p3);
            continue;
        };
        let a1 = numeric(&f.a1, label);
        let a2 = numeric(&f.a2, label);
        let a3 = numeric(&f.a3, label);
        let f1 = numeric(&f.f1, label);
        let a2_next = numeric(&f.a2, next.as_ref());
        let border_phone = "aeiouAEIOUNcl".contains(p3.as_str());
        phones.push(p3);
        if a3 == 1 && a2_next == 1 && border_phone {
            phones.push("#".to_string());
        } else if a1 == 0 && a2_next == a2 + 1 && a2 != f1 {
            phones.push("]".to_string());
        } else if a2 == 1 && a2_next == 2 {
            phones.push("[".to_string());
        }
    }
    phones
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels of 「こんにちは」 as OpenJTalk writes them (pyopenjtalk 0.4.1, naist-jdic 1.11),
    /// trimmed to the fields the prosody reads.
    const KONNICHIWA: [&str; 7] = [
        "xx^xx-sil+k=o/A:xx+xx+xx/B:xx-xx_xx/C:xx_xx+xx/D:xx+xx_xx/E:xx_xx!xx_xx-xx/F:xx_xx#xx_xx@xx_xx|xx_xx",
        "xx^sil-k+o=N/A:-4+1+5/B:xx-xx_xx/C:xx_xx+xx/D:xx+xx_xx/E:xx_xx!xx_xx-xx/F:5_5#0_xx@1_1|1_5",
        "sil^k-o+N=n/A:-4+1+5/B:xx-xx_xx/C:xx_xx+xx/D:xx+xx_xx/E:xx_xx!xx_xx-xx/F:5_5#0_xx@1_1|1_5",
        "k^o-N+n=i/A:-3+2+4/B:xx-xx_xx/C:xx_xx+xx/D:xx+xx_xx/E:xx_xx!xx_xx-xx/F:5_5#0_xx@1_1|1_5",
        "o^N-n+i=ch/A:-2+3+3/B:xx-xx_xx/C:xx_xx+xx/D:xx+xx_xx/E:xx_xx!xx_xx-xx/F:5_5#0_xx@1_1|1_5",
        "N^n-i+ch=i/A:-2+3+3/B:xx-xx_xx/C:xx_xx+xx/D:xx+xx_xx/E:xx_xx!xx_xx-xx/F:5_5#0_xx@1_1|1_5",
        "n^i-sil+xx=xx/A:xx+xx+xx/B:xx-xx_xx/C:xx_xx+xx/D:xx+xx_xx/E:5_5!0_xx-xx/F:xx_xx#xx_xx@xx_xx|xx_xx",
    ];

    #[test]
    fn rise_after_the_first_mora_and_utterance_marks() {
        let got = g2p_prosody(&KONNICHIWA);
        assert_eq!(got, ["^", "k", "o", "[", "N", "n", "i", "$"]);
    }

    #[test]
    fn question_flag_on_the_final_silence_gives_a_question_mark() {
        let mut labels = KONNICHIWA.map(String::from).to_vec();
        let last = labels.len() - 1;
        labels[last] = labels[last].replace("!0_", "!1_");
        assert_eq!(g2p_prosody(&labels).last().map(String::as_str), Some("?"));
    }

    #[test]
    fn unvoiced_vowels_are_lowercased_and_missing_fields_read_as_minus_fifty() {
        assert_eq!(numeric(&fields().a1, "/A:xx+xx+xx/"), -50);
        let labels = ["xx^xx-sil+x", "sil^s-U+xx/A:xx+xx+xx/F:xx_", "s^U-sil+xx!0_"];
        assert_eq!(g2p_prosody(&labels), ["^", "u", "$"]);
    }
}
