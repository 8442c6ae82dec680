//! Batched decoding gives every sequence the tokens it gets alone; sequences join, finish and
//! are cancelled independently. Runs the tiny fixture GPT on the fixture inputs.
use std::sync::Arc;

use gsv_server::models::gpt::Text2SemanticDecoder;
use gsv_server::models::gpt::decode::{BatchDecoder, DecodeOutcome, DecodeRequest, SeqId, TokenStream};
use gsv_server::models::gpt::sampling::SamplingParams;
use gsv_server::parity::{gpt as pg, FixtureSet};
use mlx_rs::ops::indexing::IndexOp;

fn fixtures() -> FixtureSet {
    FixtureSet::open(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).expect("fixture set")
}

fn model(set: &FixtureSet) -> Arc<Text2SemanticDecoder> {
    let path = set.find_file("models/gpt", ".ckpt").expect("gpt checkpoint");
    Arc::new(Text2SemanticDecoder::load(&path, mlx_rs::Dtype::Float32).expect("load").0)
}

/// Requests of different phone and prompt lengths, greedy and sampled, with and without prompt.
fn requests(set: &FixtureSet, m: &Text2SemanticDecoder) -> Vec<DecodeRequest> {
    let unit = pg::unit_inputs(set).expect("gpt inputs");
    let zh = pg::e2e_inputs(set, "e2e_zh").expect("zh");
    let en = pg::e2e_inputs(set, "e2e_en").expect("en");
    let esn = m.config.early_stop_num();
    let mut out = Vec::new();
    let mut r = DecodeRequest::new(unit.phones.clone(), unit.bert.clone(), Some(unit.prompt.clone()), esn);
    r.sampling = SamplingParams::greedy(1.35);
    out.push(r);
    let mut r = DecodeRequest::new(zh.phones.clone(), zh.bert.clone(), Some(zh.prompt.clone()), esn);
    r.sampling = SamplingParams::greedy(1.35);
    out.push(r);
    let mut r = DecodeRequest::new(en.phones.clone(), en.bert.clone(), Some(en.prompt[..40].to_vec()), esn);
    r.sampling = SamplingParams { top_k: 5, top_p: 0.9, temperature: 0.8, repetition_penalty: 1.35 };
    r.seed = 7;
    out.push(r);
    // Reference-free, and a short text.
    let mut r = DecodeRequest::new(unit.phones.clone(), unit.bert.clone(), None, esn);
    r.sampling = SamplingParams::greedy(1.35);
    out.push(r);
    let mut r = DecodeRequest::new(zh.phones[..9].to_vec(), zh.bert.index((.., ..9)), Some(zh.prompt[..17].to_vec()), esn);
    r.sampling = SamplingParams::default();
    r.seed = 99;
    out.push(r);
    for r in &mut out {
        r.max_steps = 120;
    }
    // One long fixed-length sequence, so caches grow past a 256-position block mid-batch.
    let mut r = DecodeRequest::new(zh.phones.clone(), zh.bert.clone(), Some(zh.prompt.clone()), esn);
    r.sampling = SamplingParams::greedy(1.35);
    r.early_stop_num = None;
    r.ignore_eos = true;
    r.max_steps = 300;
    out.insert(1, r);
    out
}

fn alone(m: &Arc<Text2SemanticDecoder>, req: DecodeRequest) -> DecodeOutcome {
    TokenStream::new(Arc::clone(m), req).expect("stream").run().expect("decode").0
}

/// Steps a decoder until empty, collecting outcomes and checking streamed tokens add up.
fn drain(dec: &mut BatchDecoder, outcomes: &mut Vec<(SeqId, DecodeOutcome)>, streamed: &mut std::collections::HashMap<SeqId, Vec<u32>>, max_calls: usize) {
    for _ in 0..max_calls {
        if dec.is_empty() {
            return;
        }
        for (id, s) in dec.step().expect("step") {
            if let Some(t) = s.token {
                streamed.entry(id).or_default().push(t);
            }
            if let Some(o) = s.finished {
                outcomes.push((id, o));
            }
        }
    }
}

/// Each sequence alone, decoded op by op (the reference both decoders must reproduce).
fn solo_eager(set: &FixtureSet, m: &Arc<Text2SemanticDecoder>) -> Vec<DecodeOutcome> {
    requests(set, m)
        .into_iter()
        .map(|r| {
            let mut dec = BatchDecoder::with_compile(Arc::clone(m), false);
            let id = dec.add(r).expect("add");
            let (mut outcomes, mut streamed) = (Vec::new(), Default::default());
            drain(&mut dec, &mut outcomes, &mut streamed, 2000);
            outcomes.into_iter().find(|(o, _)| *o == id).expect("outcome").1
        })
        .collect()
}

#[test]
fn batch_equals_each_alone() {
    batch_equals_each_alone_with(false);
}

#[test]
fn compiled_batch_equals_each_alone_eager() {
    batch_equals_each_alone_with(true);
}

fn batch_equals_each_alone_with(compile: bool) {
    let set = fixtures();
    let m = model(&set);
    let solo = solo_eager(&set, &m);
    assert!(solo.iter().all(|o| !o.generated.is_empty()));
    // The single-sequence iterator agrees with the eager batch decoder.
    let first = requests(&set, &m).into_iter().next().expect("req");
    assert_eq!(alone(&m, first), solo[0]);
    let mut dec = BatchDecoder::with_compile(Arc::clone(&m), compile);
    let ids: Vec<SeqId> = requests(&set, &m).into_iter().map(|r| dec.add(r).expect("add")).collect();
    assert_eq!(dec.len(), ids.len());
    let (mut outcomes, mut streamed) = (Vec::new(), Default::default());
    drain(&mut dec, &mut outcomes, &mut streamed, 600);
    assert!(dec.is_empty());
    assert_eq!(outcomes.len(), ids.len());
    for (i, id) in ids.iter().enumerate() {
        let got = &outcomes.iter().find(|(o, _)| o == id).expect("outcome").1;
        assert_eq!(got, &solo[i], "sequence {i} differs in the batch");
        assert_eq!(streamed.get(id).cloned().unwrap_or_default(), got.generated, "streamed tokens of {i}");
    }
    // The lengths differ, so sequences really finished at different steps.
    let lens: std::collections::BTreeSet<usize> = solo.iter().map(|o| o.generated.len()).collect();
    assert!(lens.len() > 1, "all sequences had the same length: {lens:?}");
}

#[test]
fn sequences_join_and_leave_between_steps() {
    sequences_join_and_leave_with(false);
}

#[test]
fn compiled_sequences_join_and_leave_between_steps() {
    sequences_join_and_leave_with(true);
}

fn sequences_join_and_leave_with(compile: bool) {
    let set = fixtures();
    let m = model(&set);
    let solo = solo_eager(&set, &m);
    let mut reqs = requests(&set, &m).into_iter();
    let mut dec = BatchDecoder::with_compile(Arc::clone(&m), compile);
    let (mut outcomes, mut streamed) = (Vec::new(), Default::default());
    let first = dec.add(reqs.next().expect("req")).expect("add");
    drain(&mut dec, &mut outcomes, &mut streamed, 5);
    let second = dec.add(reqs.next().expect("req")).expect("add");
    let third = dec.add(reqs.next().expect("req")).expect("add");
    drain(&mut dec, &mut outcomes, &mut streamed, 3);
    // A cancelled sequence produces nothing more and disturbs nobody.
    let doomed = dec.add(reqs.next().expect("req")).expect("add");
    drain(&mut dec, &mut outcomes, &mut streamed, 2);
    assert!(dec.remove(doomed));
    let last = dec.add(reqs.next().expect("req")).expect("add");
    drain(&mut dec, &mut outcomes, &mut streamed, 600);
    assert!(dec.is_empty());
    for (id, want) in [(first, &solo[0]), (second, &solo[1]), (third, &solo[2]), (last, &solo[4])] {
        let got = &outcomes.iter().find(|(o, _)| *o == id).expect("outcome").1;
        assert_eq!(got, want, "sequence {id} differs after joining");
    }
    assert!(outcomes.iter().all(|(o, _)| *o != doomed));
    assert!(!dec.remove(doomed));
}

#[test]
fn same_seed_same_tokens_other_seed_differs() {
    let set = fixtures();
    let m = model(&set);
    let make = |seed| {
        let mut r = requests(&set, &m).swap_remove(2);
        r.sampling = SamplingParams { top_k: 50, top_p: 1.0, temperature: 1.5, repetition_penalty: 1.0 };
        r.seed = seed;
        r
    };
    let a = alone(&m, make(1));
    assert_eq!(a, alone(&m, make(1)));
    assert_ne!(a.generated, alone(&m, make(2)).generated);
}

#[test]
fn sovits_file_is_rejected_with_a_clear_error() {
    let set = fixtures();
    let path = set.find_file("models/sovits", ".pth").expect("sovits file");
    let err = match Text2SemanticDecoder::load(&path, mlx_rs::Dtype::Float32) {
        Ok(_) => panic!("a SoVITS file loaded as GPT"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("not a GPT"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
}

#[test]
fn bad_requests_are_errors() {
    let set = fixtures();
    let m = model(&set);
    let mut dec = BatchDecoder::new(Arc::clone(&m));
    let mut r = requests(&set, &m).swap_remove(0);
    r.phones[0] = m.config.phoneme_vocab_size;
    assert!(dec.add(r).is_err());
    let mut r = requests(&set, &m).swap_remove(0);
    r.bert = r.bert.index((.., ..3));
    assert!(dec.add(r).is_err());
    let mut r = requests(&set, &m).swap_remove(0);
    r.prompt = Some(vec![m.config.vocab_size as u32]);
    assert!(dec.add(r).is_err());
    assert!(dec.is_empty());
}
