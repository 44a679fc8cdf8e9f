//! Writes the fuzz targets' seed corpus to `fuzz/seeds/<target>/` (or the folder given):
//! `cargo run --example fuzz_seeds`. The seeds are committed; rerun this when an encoding
//! changes (a new protocol version makes the old hello seeds stop at the version check).

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let root = std::env::args_os().nth(1).map_or_else(|| PathBuf::from("fuzz/seeds"), PathBuf::from);
    for seed in ipcbench::fuzzing::seeds::all() {
        let dir = root.join(seed.target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(&seed.name), &seed.bytes)?;
    }
    println!("seeds written to {}", root.display());
    Ok(())
}
