//! Times parsing and writing a feature-length script (about 200 pages, 10,000 lines):
//!
//! ```text
//! cargo run -p previz-screenplay --example bench_parse            # debug build
//! cargo run -p previz-screenplay --example bench_parse --release
//! ```

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

use std::time::Instant;

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let src = common::feature_length(10_000);
    let runs = 10;
    let mut best_parse = f64::MAX;
    let mut best_write = f64::MAX;
    let mut elements = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let Ok(parsed) = previz_screenplay::parse_fountain(&src) else {
            println!("the generated script did not parse");
            return;
        };
        best_parse = best_parse.min(start.elapsed().as_secs_f64());
        elements = parsed.screenplay.elements.len();
        let start = Instant::now();
        let written = previz_screenplay::write_fountain(&parsed.screenplay);
        best_write = best_write.min(start.elapsed().as_secs_f64());
        std::hint::black_box(written);
    }
    println!(
        "{} lines, {} bytes, {elements} elements: parse {:.1} ms, write {:.1} ms (best of {runs})",
        src.lines().count(),
        src.len(),
        best_parse * 1e3,
        best_write * 1e3,
    );
}
