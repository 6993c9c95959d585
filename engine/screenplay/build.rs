//! Turns `PREVIZ_DIFFERENTIAL=1` into `cfg(previz_differential)`, so the differential tests
//! against independent Fountain parsers are `#[ignore]`d unless that variable is set (they
//! need Node.js and Python packages that a plain `cargo test` machine may lack).

fn main() {
    println!("cargo::rerun-if-env-changed=PREVIZ_DIFFERENTIAL");
    println!("cargo::rustc-check-cfg=cfg(previz_differential)");
    if std::env::var("PREVIZ_DIFFERENTIAL").as_deref() == Ok("1") {
        println!("cargo::rustc-cfg=previz_differential");
    }
}
