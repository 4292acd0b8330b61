//! What the AppImage runtime adds to a start of Tern, on a real AppImage
//! (docs/benchmarks.md, "AppImage"): the first start, which unpacks the
//! image, and a later start, which finds the unpacked build.
//!
//! `scripts/bench appimage [APPIMAGE]`, or
//! `cargo bench -p tern-appimage-runtime --bench start -- APPIMAGE [RUNS]`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use tern_appimage_runtime::unpacked;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn size_of(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            total += size_of(&e.path());
        } else if t.is_file() {
            total += e.metadata().unwrap().len();
        }
    }
    total
}

fn main() {
    // `cargo bench` adds `--bench`; the first other argument is the AppImage.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(appimage) = args.first().map(PathBuf::from) else {
        eprintln!("usage: start APPIMAGE [RUNS]  (make one with scripts/appimage)");
        return;
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let size = std::fs::metadata(&appimage).expect("the AppImage").len();

    let mut first = Vec::new();
    let mut later = Vec::new();
    let mut unpacked_size = 0;
    for _ in 0..runs {
        let cache = tempfile::tempdir().unwrap();
        // Written files go to the page cache; sync so that one run's
        // write-back does not land in the next run's time.
        std::process::Command::new("sync").status().unwrap();
        let t = Instant::now();
        let dir = unpacked(&appimage, cache.path()).unwrap();
        first.push(t.elapsed().as_secs_f64() * 1000.0);
        unpacked_size = size_of(&dir);
        for _ in 0..20 {
            let t = Instant::now();
            let again = unpacked(&appimage, cache.path()).unwrap();
            later.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(again, dir);
        }
    }
    println!(
        "AppImage {:.1} MB, unpacked {:.1} MB",
        size as f64 / 1e6,
        unpacked_size as f64 / 1e6
    );
    println!(
        "first start (unpack): median {:.0} ms over {runs} runs (min {:.0}, max {:.0})",
        median(first.clone()),
        first.iter().copied().fold(f64::MAX, f64::min),
        first.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "later start (find the unpacked build): median {:.2} ms over {} runs (max {:.2})",
        median(later.clone()),
        later.len(),
        later.iter().copied().fold(0.0, f64::max)
    );
}
