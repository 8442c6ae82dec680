//! NLTK 3.10's `TweetTokenizer().tokenize` (what upstream `english.py` splits words with),
//! for the text `text_normalize` leaves: ASCII letters, spaces and `'.,?!-`.
//!
//! On that alphabet only these of NLTK's alternatives can match (tried in NLTK's order at
//! each position): naked domains of the URL pattern (`word.word`), words with apostrophes
//! or dashes, `[\w_]+`, ellipsis dots and any other single non-space character. The others
//! need characters the normaliser removes (`:/@#<>;=` digits, emoji), so other input is
//! tokenised as if those were plain symbols. The `HANG_RE` pass that shortens runs of four
//! or more equal symbols to three is reproduced.

/// Tokens of `text`, as slices of the text after the `HANG_RE` pass.
pub(crate) fn tokenize(text: &str) -> Vec<String> {
    let chars = shorten_runs(text);
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let end = naked_domain(&chars, i)
            .or_else(|| word_with_inner_marks(&chars, i))
            .or_else(|| word(&chars, i))
            .or_else(|| ellipsis(&chars, i))
            .unwrap_or(i + 1);
        tokens.push(chars[i..end].iter().collect());
        i = end;
    }
    tokens
}

/// `HANG_RE = ([^\p{L}\p{N}])\1{3,}` → `\1\1\1`.
fn shorten_runs(text: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(text.len());
    let mut run = 0;
    for c in text.chars() {
        if out.last() == Some(&c) {
            run += 1;
        } else {
            run = 1;
        }
        if run > 3 && !c.is_alphanumeric() {
            continue;
        }
        out.push(c);
    }
    out
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
}

fn run_end(chars: &[char], mut i: usize, pred: impl Fn(char) -> bool) -> usize {
    while chars.get(i).is_some_and(|&c| pred(c)) {
        i += 1;
    }
    i
}

/// `[a-z0-9]+(?:[.\-][a-z0-9]+){0,126}[.](?:[a-z]{2,13})\b` (case-insensitive): the longest
/// chain of labels that still ends in `.` + a 2–13-letter label.
fn naked_domain(chars: &[char], start: usize) -> Option<usize> {
    let first_end = run_end(chars, start, is_alnum);
    if first_end == start {
        return None;
    }
    // (separator, label start, label end) for each `[.\-][a-z0-9]+` that follows.
    let mut links = Vec::new();
    let mut pos = first_end;
    while let Some(&sep) = chars.get(pos) {
        if sep != '.' && sep != '-' {
            break;
        }
        let end = run_end(chars, pos + 1, is_alnum);
        if end == pos + 1 {
            break;
        }
        links.push((sep, pos + 1, end));
        pos = end;
    }
    // Greedy repetition count first, then fewer: the link after the repeated ones is the TLD.
    for repeated in (0..links.len().min(127)).rev() {
        let (sep, from, to) = links[repeated];
        let len = to - from;
        if sep == '.' && (2..=13).contains(&len) && chars[from..to].iter().all(|&c| is_letter(c)) {
            return Some(to);
        }
    }
    None
}

/// `[^\W\d_](?:[^\W\d_]|['\-_])+[^\W\d_]`.
fn word_with_inner_marks(chars: &[char], start: usize) -> Option<usize> {
    if !chars.get(start).is_some_and(|&c| is_letter(c)) {
        return None;
    }
    let end = run_end(chars, start + 1, |c| {
        is_letter(c) || matches!(c, '\'' | '-' | '_')
    });
    // Back off to the last letter that leaves at least one character in between.
    (start + 2..end)
        .rev()
        .find(|&k| is_letter(chars[k]))
        .map(|k| k + 1)
}

/// `[\w_]+`.
fn word(chars: &[char], start: usize) -> Option<usize> {
    let end = run_end(chars, start, |c| is_alnum(c) || c == '_');
    (end > start).then_some(end)
}

/// `\.(?:[^\S\r\n]*\.){1,}`.
fn ellipsis(chars: &[char], start: usize) -> Option<usize> {
    if chars.get(start) != Some(&'.') {
        return None;
    }
    let mut end = None;
    let mut pos = start + 1;
    loop {
        let after_space = run_end(chars, pos, |c| c.is_whitespace() && c != '\r' && c != '\n');
        if chars.get(after_space) == Some(&'.') {
            pos = after_space + 1;
            end = Some(pos);
        } else {
            return end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_tweet_tokenizer() {
        let cases: [(&str, &[&str]); 6] = [
            (
                "ten thirty a.m. and",
                &["ten", "thirty", "a", ".", "m", ".", "and"],
            ),
            (
                "It's a state-of-the-art, well-designed system!",
                &[
                    "It's",
                    "a",
                    "state-of-the-art",
                    ",",
                    "well-designed",
                    "system",
                    "!",
                ],
            ),
            (
                "and 'single quotes' then",
                &["and", "'", "single", "quotes", "'", "then"],
            ),
            (
                "visit openai.com. now",
                &["visit", "openai.com", ".", "now"],
            ),
            ("x''''y", &["x'''y"]),
            ("a . . b", &["a", ". .", "b"]),
        ];
        for (text, want) in cases {
            assert_eq!(tokenize(text), want, "{text}");
        }
    }
}
