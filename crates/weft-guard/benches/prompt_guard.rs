//! `prompt_guard`: Prompt Guard's CPU latency per 512-token window, in this process, for
//! the 86M shape (mDeBERTa-v3-base: 12 layers, 768 wide, 12 heads, 256 position buckets,
//! a 251,000-token vocabulary) with random weights: the same architecture and size as
//! `meta-llama/Prompt-Guard-86M`, so the time is the real model's. The model is written to
//! a temporary folder (bf16 on disk, f32 in memory) and loaded once.
//!
//! Run: `cargo bench -p weft-guard --features prompt-guard --bench prompt_guard`.

// A benchmark is test code: a broken setup should stop it loudly.
#![allow(clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;
use weft_fixtures::deberta::{CLS, ClassifierShape, SEP, write_classifier};
use weft_guard::prompt_guard::local::LocalClassifier;

fn bench_window(criterion: &mut Criterion) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    write_classifier(folder.path(), ClassifierShape::PROMPT_GUARD, 3)
        .expect("the model is written");
    let classifier = LocalClassifier::load(folder.path()).expect("the model loads");
    // A full window: [CLS], 510 tokens of text, [SEP].
    let mut ids = vec![CLS];
    ids.extend((0..510u32).map(|index| 300 + index % 40));
    ids.push(SEP);
    let mut group = criterion.benchmark_group("prompt_guard");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.bench_function("window_512_tokens_86m", |bencher| {
        bencher.iter(|| classifier.logits(&ids).expect("logits"))
    });
    group.finish();
}

criterion_group!(benches, bench_window);
criterion_main!(benches);
