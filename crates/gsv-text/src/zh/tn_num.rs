//! Number verbalisation rules of upstream `zh_normalization` (num.py, chronology.py,
//! phonecode.py, quantifier.py): the regexes, in upstream's exact form, and their replacers.
use fancy_regex::Captures;

use super::py::{group, Rx};
use crate::Error;

const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];

/// `DIGITS[d]`; upstream's `\d` also matches non-ASCII digits, for which this lookup raises
/// `KeyError` — kept as an error.
fn digit(c: char) -> Result<&'static str, Error> {
    c.to_digit(10)
        .filter(|_| c.is_ascii_digit())
        .map(|d| DIGITS[d as usize])
        .ok_or_else(|| Error::Invalid(format!("zh: KeyError: {c:?} is not an ASCII digit")))
}

fn unit(power: usize) -> &'static str {
    match power {
        1 => "十",
        2 => "百",
        3 => "千",
        4 => "万",
        _ => "亿",
    }
}

/// `_get_value`: digits (possibly with leading zeros) → symbols, recursively by the largest unit.
fn get_value(value: &[char], use_zero: bool) -> Result<Vec<&'static str>, Error> {
    let first_nonzero = value.iter().position(|&c| c != '0').unwrap_or(value.len());
    let stripped = &value[first_nonzero..];
    match stripped.len() {
        0 => Ok(Vec::new()),
        1 => {
            if use_zero && stripped.len() < value.len() {
                Ok(vec![DIGITS[0], digit(stripped[0])?])
            } else {
                Ok(vec![digit(stripped[0])?])
            }
        }
        n => {
            let largest = [8usize, 4, 3, 2, 1].into_iter().find(|&p| p < n).unwrap_or(1);
            let split = value.len() - largest;
            let mut out = get_value(&value[..split], true)?;
            out.push(unit(largest));
            out.extend(get_value(&value[split..], true)?);
            Ok(out)
        }
    }
}

/// `verbalize_cardinal`: "1024" → 一千零二十四, "10" → 十 (not 一十).
pub(crate) fn verbalize_cardinal(value: &str) -> Result<String, Error> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let stripped: Vec<char> = value.trim_start_matches('0').chars().collect();
    if stripped.is_empty() {
        return Ok(DIGITS[0].to_string());
    }
    let mut symbols = get_value(&stripped, true)?;
    if symbols.len() >= 2 && symbols[0] == DIGITS[1] && symbols[1] == unit(1) {
        symbols.remove(0);
    }
    Ok(symbols.concat())
}

/// `verbalize_digit`: digit by digit, optionally 一 → 幺 (phone numbers).
pub(crate) fn verbalize_digit(value: &str, alt_one: bool) -> Result<String, Error> {
    let mut out = String::new();
    for c in value.chars() {
        out.push_str(digit(c)?);
    }
    Ok(if alt_one { out.replace('一', "幺") } else { out })
}

/// `num2str`: "3.14" → 三点一四, ".5" → 零点五, "3.200" → 三点二零 (see the quirk below).
pub(crate) fn num2str(value: &str) -> Result<String, Error> {
    let parts: Vec<&str> = value.split('.').collect();
    let (integer, decimal) = match parts.as_slice() {
        [i] => (*i, ""),
        [i, d] => (*i, *d),
        _ => {
            return Err(Error::Invalid(format!(
                "zh: ValueError: The value string: '${value}' has more than one point in it."
            )))
        }
    };
    let mut result = verbalize_cardinal(integer)?;
    // [quirk] a decimal part ending in 0 keeps exactly one trailing 0.
    let decimal = if decimal.ends_with('0') {
        format!("{}0", decimal.trim_end_matches('0'))
    } else {
        decimal.trim_end_matches('0').to_string()
    };
    if !decimal.is_empty() {
        if result.is_empty() {
            result = DIGITS[0].to_string();
        }
        result.push('点');
        result.push_str(&verbalize_digit(&decimal, false)?);
    }
    Ok(result)
}

const SUPERSCRIPTS: &str = "⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ";

pub(crate) static RE_FRAC: Rx = Rx::new(r"(-?)(\d+)/(\d+)");
pub(crate) static RE_PERCENTAGE: Rx = Rx::new(r"(-?)(\d+(\.\d+)?)%");
pub(crate) static RE_INTEGER: Rx = Rx::new(r"(-)(\d+)");
pub(crate) static RE_DEFAULT_NUM: Rx = Rx::new(r"\d{3}\d*");
pub(crate) static RE_ASMD: Rx = Rx::new(
    r"((-?)((\d+)(\.\d+)?[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|(\.\d+[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|([A-Za-z][⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*))([\+\-×÷=])((-?)((\d+)(\.\d+)?[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|(\.\d+[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|([A-Za-z][⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*))",
);
pub(crate) static RE_POWER: Rx = Rx::new(r"[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]+");
pub(crate) static RE_DECIMAL_NUM: Rx = Rx::new(r"(-?)((\d+)(\.\d+))|(\.(\d+))");
pub(crate) static RE_POSITIVE_QUANTIFIERS: Rx = Rx::new(concat!(
    r"(\d+)([多余几\+])?",
    "(处|台|架|枚|趟|幅|平|方|堵|间|床|株|批|项|例|列|篇|栋|注|亩|封|艘|把|目|套|段|人|所|朵|匹|张|座|回|场|尾|条|个|首|阙|阵|网|炮|顶|丘|棵|只|支|袭|辆|挑|担|颗|壳|窠|曲|墙|群|腔|砣|座|客|贯|扎|捆|刀|令|打|手|罗|坡|山|岭|江|溪|钟|队|单|双|对|出|口|头|脚|板|跳|枝|件|贴|针|线|管|名|位|身|堂|课|本|页|家|户|层|丝|毫|厘|分|钱|两|斤|担|铢|石|钧|锱|忽|(千|毫|微)克|毫|厘|(公)分|分|寸|尺|丈|里|寻|常|铺|程|(千|分|厘|毫|微)米|米|撮|勺|合|升|斗|石|盘|碗|碟|叠|桶|笼|盆|盒|杯|钟|斛|锅|簋|篮|盘|桶|罐|瓶|壶|卮|盏|箩|箱|煲|啖|袋|钵|年|月|日|季|刻|时|周|天|秒|分|小时|旬|纪|岁|世|更|夜|春|夏|秋|冬|代|伏|辈|丸|泡|粒|颗|幢|堆|条|根|支|道|面|片|张|颗|块|元|(亿|千万|百万|万|千|百)|(亿|千万|百万|万|千|百|美|)元|(亿|千万|百万|万|千|百|十|)吨|(亿|千万|百万|万|千|百|)块|角|毛|分)",
));
pub(crate) static RE_NUMBER: Rx = Rx::new(r"(-?)((\d+)(\.\d+)?)|(\.(\d+))");
pub(crate) static RE_RANGE: Rx = Rx::new(
    r"(?<![\d\+\-×÷=])((-?)((\d+)(\.\d+)?))[-~]((-?)((\d+)(\.\d+)?))(?![\d\+\-×÷=])",
);
pub(crate) static RE_TO_RANGE: Rx = Rx::new(
    r"((-?)((\d+)(\.\d+)?)|(\.(\d+)))(%|°C|℃|度|摄氏度|cm2|cm²|cm3|cm³|cm|db|ds|kg|km|m2|m²|m³|m3|ml|m|mm|s)[~]((-?)((\d+)(\.\d+)?)|(\.(\d+)))(%|°C|℃|度|摄氏度|cm2|cm²|cm3|cm³|cm|db|ds|kg|km|m2|m²|m³|m3|ml|m|mm|s)",
);
pub(crate) static RE_VERSION_NUM: Rx = Rx::new(r"((\d+)(\.\d+)(\.\d+)?(\.\d+)+)");

pub(crate) fn replace_frac(c: &Captures) -> Result<String, Error> {
    let sign = if group(c, 1).is_empty() { "" } else { "负" };
    Ok(format!("{sign}{}分之{}", num2str(group(c, 3))?, num2str(group(c, 2))?))
}

pub(crate) fn replace_percentage(c: &Captures) -> Result<String, Error> {
    let sign = if group(c, 1).is_empty() { "" } else { "负" };
    Ok(format!("{sign}百分之{}", num2str(group(c, 2))?))
}

pub(crate) fn replace_negative_num(c: &Captures) -> Result<String, Error> {
    let sign = if group(c, 1).is_empty() { "" } else { "负" };
    Ok(format!("{sign}{}", num2str(group(c, 2))?))
}

pub(crate) fn replace_default_num(c: &Captures) -> Result<String, Error> {
    verbalize_digit(group(c, 0), true)
}

pub(crate) fn replace_asmd(c: &Captures) -> Result<String, Error> {
    let op = match group(c, 8) {
        "+" => "加",
        "-" => "减",
        "×" => "乘",
        "÷" => "除",
        _ => "等于",
    };
    Ok(format!("{}{op}{}", group(c, 1), group(c, 9)))
}

pub(crate) fn replace_power(c: &Captures) -> Result<String, Error> {
    let mut power = String::new();
    for ch in group(c, 0).chars() {
        let mapped = match SUPERSCRIPTS.chars().position(|s| s == ch) {
            Some(i @ 0..=9) => char::from(b'0' + i as u8),
            Some(10) => 'x',
            Some(11) => 'y',
            _ => 'n',
        };
        power.push(mapped);
    }
    Ok(format!("的{power}次方"))
}

pub(crate) fn replace_positive_quantifier(c: &Captures) -> Result<String, Error> {
    let more = match group(c, 2) {
        "+" => "多",
        other => other,
    };
    let mut number = num2str(group(c, 1))?;
    if number == "二" {
        number = "两".to_string();
    }
    Ok(format!("{number}{more}{}", group(c, 3)))
}

/// `replace_number` for RE_NUMBER / RE_DECIMAL_NUM (same group layout).
pub(crate) fn replace_number(c: &Captures) -> Result<String, Error> {
    let pure_decimal = group(c, 5);
    if !pure_decimal.is_empty() {
        return num2str(pure_decimal);
    }
    let sign = if group(c, 1).is_empty() { "" } else { "负" };
    Ok(format!("{sign}{}", num2str(group(c, 2))?))
}

pub(crate) fn replace_range(c: &Captures) -> Result<String, Error> {
    let first = RE_NUMBER.sub(group(c, 1), replace_number)?;
    let second = RE_NUMBER.sub(group(c, 6), replace_number)?;
    Ok(format!("{first}到{second}"))
}

pub(crate) fn replace_to_range(c: &Captures) -> Result<String, Error> {
    Ok(group(c, 0).replace('~', "至"))
}

pub(crate) fn replace_version_num(c: &Captures) -> Result<String, Error> {
    let mut out = String::new();
    for ch in group(c, 1).chars() {
        if ch == '.' {
            out.push('点');
        } else {
            out.push_str(&num2str(&ch.to_string())?);
        }
    }
    Ok(out)
}

// ---- chronology.py ----

pub(crate) static RE_TIME: Rx = Rx::new(r"([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?");
pub(crate) static RE_TIME_RANGE: Rx = Rx::new(
    r"([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?(~|-)([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?",
);
pub(crate) static RE_DATE: Rx =
    Rx::new(r"(\d{4}|\d{2})年((0?[1-9]|1[0-2])月)?(((0?[1-9])|((1|2)[0-9])|30|31)([日号]))?");
pub(crate) static RE_DATE2: Rx = Rx::new(r"(\d{4})([- /.])(0[1-9]|1[012])\2(0[1-9]|[12][0-9]|3[01])");

/// `_time_num2str`: a leading zero is read out ("05" → 零五).
fn time_num2str(num: &str) -> Result<String, Error> {
    let result = num2str(num.trim_start_matches('0'))?;
    Ok(if num.starts_with('0') { format!("{}{result}", DIGITS[0]) } else { result })
}

fn minute_is_30(minute: &str) -> bool {
    minute.parse::<u32>().is_ok_and(|m| m == 30)
}

fn time_part(hour: &str, minute: &str, second: &str, half_from: &str) -> Result<String, Error> {
    let mut out = format!("{}点", num2str(hour)?);
    if !minute.trim_start_matches('0').is_empty() {
        if minute_is_30(half_from) {
            out.push('半');
        } else {
            out.push_str(&format!("{}分", time_num2str(minute)?));
        }
    }
    if !second.trim_start_matches('0').is_empty() {
        out.push_str(&format!("{}秒", time_num2str(second)?));
    }
    Ok(out)
}

/// `replace_time` for RE_TIME (4 groups) and RE_TIME_RANGE (9 groups).
pub(crate) fn replace_time(c: &Captures) -> Result<String, Error> {
    let (hour, minute, second) = (group(c, 1), group(c, 2), group(c, 4));
    let mut out = time_part(hour, minute, second, minute)?;
    if c.len() > 6 {
        out.push('至');
        // [quirk] the second time reads 半 when the *first* minute is 30.
        out.push_str(&time_part(group(c, 6), group(c, 7), group(c, 9), minute)?);
    }
    Ok(out)
}

pub(crate) fn replace_date(c: &Captures) -> Result<String, Error> {
    let (year, month, day) = (group(c, 1), group(c, 3), group(c, 5));
    let mut out = String::new();
    if !year.is_empty() {
        out.push_str(&format!("{}年", verbalize_digit(year, false)?));
    }
    if !month.is_empty() {
        out.push_str(&format!("{}月", verbalize_cardinal(month)?));
    }
    if !day.is_empty() {
        out.push_str(&format!("{}{}", verbalize_cardinal(day)?, group(c, 9)));
    }
    Ok(out)
}

pub(crate) fn replace_date2(c: &Captures) -> Result<String, Error> {
    let (year, month, day) = (group(c, 1), group(c, 3), group(c, 4));
    let mut out = String::new();
    if !year.is_empty() {
        out.push_str(&format!("{}年", verbalize_digit(year, false)?));
    }
    if !month.is_empty() {
        out.push_str(&format!("{}月", verbalize_cardinal(month)?));
    }
    if !day.is_empty() {
        out.push_str(&format!("{}日", verbalize_cardinal(day)?));
    }
    Ok(out)
}

// ---- phonecode.py ----

pub(crate) static RE_MOBILE_PHONE: Rx =
    Rx::new(r"(?<!\d)((\+?86 ?)?1([38]\d|5[0-35-9]|7[678]|9[89])\d{8})(?!\d)");
pub(crate) static RE_TELEPHONE: Rx = Rx::new(r"(?<!\d)((0(10|2[1-3]|[3-9]\d{2})-?)?[1-9]\d{6,7})(?!\d)");
pub(crate) static RE_NATIONAL_UNIFORM_NUMBER: Rx = Rx::new(r"(400)(-)?\d{3}(-)?\d{4}");

fn join_digits<'a>(parts: impl Iterator<Item = &'a str>) -> Result<String, Error> {
    let verbalized = parts.map(|p| verbalize_digit(p, true)).collect::<Result<Vec<_>, _>>()?;
    Ok(verbalized.join("，"))
}

pub(crate) fn replace_mobile(c: &Captures) -> Result<String, Error> {
    join_digits(group(c, 0).trim_matches('+').split(super::py::is_space).filter(|p| !p.is_empty()))
}

pub(crate) fn replace_phone(c: &Captures) -> Result<String, Error> {
    join_digits(group(c, 0).split('-'))
}

// ---- quantifier.py ----

pub(crate) static RE_TEMPERATURE: Rx = Rx::new(r"(-?)(\d+(\.\d+)?)(°C|℃|度|摄氏度)");

pub(crate) fn replace_temperature(c: &Captures) -> Result<String, Error> {
    let sign = if group(c, 1).is_empty() { "" } else { "零下" };
    let unit = if group(c, 4) == "摄氏度" { "摄氏度" } else { "度" };
    Ok(format!("{sign}{}{unit}", num2str(group(c, 2))?))
}

/// `measure_dict` in upstream's (insertion) order; each is replaced everywhere in the sentence.
const MEASURES: [(&str, &str); 17] = [
    ("cm2", "平方厘米"),
    ("cm²", "平方厘米"),
    ("cm3", "立方厘米"),
    ("cm³", "立方厘米"),
    ("cm", "厘米"),
    ("db", "分贝"),
    ("ds", "毫秒"),
    ("kg", "千克"),
    ("km", "千米"),
    ("m2", "平方米"),
    ("m²", "平方米"),
    ("m³", "立方米"),
    ("m3", "立方米"),
    ("ml", "毫升"),
    ("m", "米"),
    ("mm", "毫米"),
    ("s", "秒"),
];

/// `replace_measure`. [quirk] plain substring replacement: every `m` and `s` anywhere in the
/// sentence (also inside English words) becomes 米 / 秒.
pub(crate) fn replace_measure(sentence: &str) -> String {
    let mut s = sentence.to_string();
    for (from, to) in MEASURES {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s
}
