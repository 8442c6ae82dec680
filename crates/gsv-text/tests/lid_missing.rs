//! Without the language-identifier model file (its own process: the identifier is process-wide):
//! `auto`/`auto_yue` fail with `Unavailable` naming the file, every other setting still works.
use std::path::Path;

use gsv_text::{lid, preprocess, Error, LanguageSetting, SplitMethod, Version};

#[test]
fn without_the_model_auto_is_unavailable_and_the_rest_still_work() {
    let missing = Path::new("/nonexistent/gsv-data/lid.176.ftz");
    let err = lid::init(missing).expect_err("no such file");
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(lid::builtin().is_err(), "the failed load is what the pipeline sees");
    for setting in [LanguageSetting::Auto, LanguageSetting::AutoYue] {
        let e = preprocess("你好，Hello。", setting, SplitMethod::Cut5, Version::V2).expect_err("needs the identifier");
        assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
        let message = e.to_string();
        assert!(message.contains(setting.as_str()) && message.contains("/nonexistent/gsv-data/lid.176.ftz"), "{message}");
    }
    let segments = preprocess("我在Google工作了5年。", LanguageSetting::Zh, SplitMethod::Cut5, Version::V2).expect("zh works");
    let langs: Vec<&str> = segments[0].parts.iter().map(|p| p.lang.as_str()).collect();
    assert_eq!(langs, ["zh", "en", "zh"]);
    let segments = preprocess("你食咗飯未呀？", LanguageSetting::Yue, SplitMethod::Cut5, Version::V2).expect("yue works");
    assert_eq!(segments[0].phones.first().map(String::as_str), Some("Yn"));
    assert!(segments[0].phones.iter().all(|p| p.starts_with('Y') || p == "?"));
}
