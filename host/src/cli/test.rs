//! `taskgate test`: policy case files in the sandbox, in the spirit of `cargo test`.

use anyhow::{Context as _, bail};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use taskgate::sandbox::Sandbox;

/// `taskgate test`: every case in the sandbox, in the spirit of `cargo test`.
pub fn run(
    paths: &[PathBuf],
    verbose: bool,
    config: Option<&Path>,
    component: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use taskgate::cases;
    let files = cases::collect(paths)?;
    if files.is_empty() {
        bail!("no case files (*.toml) under the given paths");
    }
    let base = match config {
        Some(path) => Some(
            toml::from_str::<toml::Table>(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("parsing {}", path.display()))?,
        ),
        None => None,
    };
    // One sandbox for every case, its memory slots large enough for any sensible case (each
    // check is still capped by its own case's `sandbox.memory_bytes`).
    let bytes = super::component(component)?;
    let sandbox = Sandbox::new(&bytes, 256 << 20, 1)?;
    println!(
        "running {} case{}",
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    let mut failed = Vec::new();
    let mut bases: HashMap<PathBuf, Option<toml::Table>> = HashMap::new();
    for file in &files {
        let name = display_name(file, paths);
        // Cases in one directory share their base configuration: read it once.
        let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
        let base = match &base {
            Some(base) => Some(base),
            None => match bases.entry(dir) {
                Entry::Occupied(found) => found.into_mut().as_ref(),
                Entry::Vacant(slot) => slot.insert(cases::base_for(file).ok()).as_ref(),
            },
        };
        let outcome = cases::run(&sandbox, file, base);
        let status = if outcome.problems.is_empty() {
            "ok"
        } else {
            "FAILED"
        };
        println!("case {name} ... {status}");
        if verbose {
            if let Some(case) = &outcome.case {
                if let Some(description) = &case.description {
                    println!("    {description}");
                }
                println!("    request: {} {}", case.request.method, case.request.path);
                if let Some(overrides) = &case.config {
                    let keys: Vec<&str> = overrides.keys().map(String::as_str).collect();
                    println!("    config overrides: {}", keys.join(", "));
                }
            }
            for step in &outcome.steps {
                println!("    passed {step}");
            }
            if let Some(verdict) = &outcome.verdict {
                println!("    verdict: {}", cases::shown(verdict));
            }
        }
        if !outcome.problems.is_empty() {
            failed.push((name, outcome));
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        for (name, outcome) in &failed {
            println!("\n---- {name} ----");
            for problem in &outcome.problems {
                println!("  {problem}");
            }
            if let Some(verdict) = &outcome.verdict {
                println!("  full verdict: {}", cases::shown(verdict));
            }
        }
        println!();
    }
    println!(
        "{} passed, {} failed",
        files.len() - failed.len(),
        failed.len()
    );
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A case's name: its path relative to the argument it was found under, without `.toml`.
fn display_name(file: &Path, roots: &[PathBuf]) -> String {
    let relative = roots
        .iter()
        .filter(|root| root.is_dir())
        .find_map(|root| file.strip_prefix(root).ok())
        .unwrap_or(file);
    relative.with_extension("").display().to_string()
}
