//! g2pk2 `numerals.py`: Arabic numbers before a bound noun are read out (native Korean
//! counting forms before the counters of `BOUND_NOUNS`, Sino-Korean otherwise); every other
//! ASCII digit is read digit by digit.
use crate::split::pychar;
use crate::Error;

/// Bound nouns counted with native Korean numerals. [quirk] g2pk2 tests `bn in BOUND_NOUNS`
/// on this one string, so any substring (`리`, `루 닢`, ...) counts as a member.
const BOUND_NOUNS: &str =
    "군데 권 개 그루 닢 대 두 마리 모 모금 뭇 발 발짝 방 번 벌 보루 살 수 술 시 쌈 움큼 정 짝 채 척 첩 축 켤레 톨 통";
const SINO: [&str; 9] = ["일", "이", "삼", "사", "오", "육", "칠", "팔", "구"];
const NATIVE_UNITS: [&str; 9] = ["한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉"];
const NATIVE_TENS: [&str; 9] = ["열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔"];

fn lookup(table: &[&'static str; 9], digit: char) -> &'static str {
    // Unicode digits other than ASCII 1-9 (`\d` matched them) read as nothing.
    match digit {
        '1'..='9' => table[digit as usize - '1' as usize],
        _ => "",
    }
}

/// Sino-Korean name of `digit` followed by a unit, with upstream's `일X` → `X` shortening.
fn with_unit(digit: char, unit: &str, drop_il: bool) -> String {
    let name = format!("{}{unit}", lookup(&SINO, digit));
    if drop_il {
        name.replace(&format!("일{unit}"), unit)
    } else {
        name
    }
}

/// g2pk2 `process_num(num, sino)`.
pub fn process_num(num: &str, sino: bool) -> Result<String, Error> {
    let num: Vec<char> = num.chars().filter(|&c| c != ',').collect();
    if num == ['0'] {
        return Ok("영".into());
    }
    if !sino && num == ['2', '0'] {
        return Ok("스무".into());
    }
    let mut spelled: Vec<String> = Vec::with_capacity(num.len());
    // [quirk] Python's loop variable `name` survives iterations: a position past 10^15 reuses
    // the previous position's name, and a leading one raises UnboundLocalError.
    let mut name: Option<String> = None;
    for (k, &digit) in num.iter().enumerate() {
        let i = num.len() - k - 1;
        match (sino, i) {
            (true, 0) => name = Some(lookup(&SINO, digit).to_string()),
            (true, 1) => name = Some(with_unit(digit, "십", true)),
            (false, 0) => name = Some(lookup(&NATIVE_UNITS, digit).to_string()),
            (false, 1) => name = Some(lookup(&NATIVE_TENS, digit).to_string()),
            _ => {}
        }
        if digit == '0' {
            let tail = &spelled[spelled.len() - spelled.len().min(3)..];
            if i % 4 != 0 || tail.concat().is_empty() {
                spelled.push(String::new());
                continue;
            }
        }
        let unit = match i {
            2 | 6 | 10 | 14 => Some(("백", i < 10)),
            3 | 7 | 11 | 15 => Some(("천", i < 10)),
            4 => Some(("만", true)),
            5 | 9 | 13 => Some(("십", i == 5)),
            8 => Some(("억", false)),
            12 => Some(("조", false)),
            _ => None,
        };
        if let Some((unit, drop_il)) = unit {
            name = Some(with_unit(digit, unit, drop_il));
        }
        match &name {
            Some(n) => spelled.push(n.clone()),
            None => {
                return Err(Error::Invalid(
                    "ko: UnboundLocalError: a number of more than 16 digits before a bound noun".into(),
                ))
            }
        }
    }
    Ok(spelled.concat())
}

fn is_hangul_range(c: char) -> bool {
    // `[ㄱ-힣]`: U+3131..U+D7A3, which also spans kana and CJK ideographs.
    ('\u{3131}'..='\u{D7A3}').contains(&c)
}

/// g2pk2 `convert_num` on the annotated string (`3개/B` → `세개/B`).
pub fn convert_num(text: &str) -> Result<String, Error> {
    let chars: Vec<char> = text.chars().collect();
    // re.findall("([\d][\d,]*)([ㄱ-힣]+)/B"): the pattern cannot backtrack into a shorter match,
    // so a left-to-right scan finds the same non-overlapping matches.
    let mut tokens: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !pychar::is_decimal(chars[i]) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && (pychar::is_decimal(chars[j]) || chars[j] == ',') {
            j += 1;
        }
        let mut k = j;
        while k < chars.len() && is_hangul_range(chars[k]) {
            k += 1;
        }
        if k > j && chars.get(k) == Some(&'/') && chars.get(k + 1) == Some(&'B') {
            let token = (chars[i..j].iter().collect(), chars[j..k].iter().collect());
            if !tokens.contains(&token) {
                tokens.push(token);
            }
            i = k + 2;
        } else {
            i += 1;
        }
    }
    let mut out = text.to_string();
    for (num, noun) in tokens {
        let spelled = process_num(&num, !BOUND_NOUNS.contains(noun.as_str()))?;
        out = out.replace(&format!("{num}{noun}/B"), &format!("{spelled}{noun}/B"));
    }
    const NAMES: [&str; 10] = ["영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"];
    Ok(out.chars().fold(String::with_capacity(out.len()), |mut s, c| {
        match c {
            '0'..='9' => s.push_str(NAMES[c as usize - '0' as usize]),
            _ => s.push(c),
        }
        s
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g2pk2_docstring_examples() {
        assert_eq!(process_num("123,456,789", true).unwrap(), "일억이천삼백사십오만육천칠백팔십구");
        assert_eq!(process_num("123,456,789", false).unwrap(), "일억이천삼백사십오만육천칠백여든아홉");
        assert_eq!(convert_num("우리 3시/B 10분/B에 만나자.").unwrap(), "우리 세시/B 십분/B에 만나자.");
        assert_eq!(process_num("20", false).unwrap(), "스무");
        assert_eq!(process_num("0", true).unwrap(), "영");
        assert_eq!(process_num("10000", true).unwrap(), "만");
        assert_eq!(process_num("100000000", true).unwrap(), "일억");
        assert!(process_num("12345678901234567", true).is_err());
    }
}
