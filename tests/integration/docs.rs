//! The README and docs/ as a newcomer follows them: every relative link leads to a file, every
//! script or file a shell block names exists, and every `taskgate` command in a shell block is
//! one the binary has, with flags its `--help` lists. (Commands that need the network or a
//! running gateway are checked against `--help`, not run.)

use crate::cli::bin;
use crate::root;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// README.md and every page of docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("a page")
}

/// The lines of the page's ```sh blocks, comments and prompts' output left out.
fn shell_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    let mut joined = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            inside = !inside && trimmed.trim_end() == "```sh";
            continue;
        }
        if !inside || trimmed.starts_with('#') {
            continue;
        }
        let code = trimmed.split(" #").next().unwrap_or_default().trim_end();
        match code.strip_suffix('\\') {
            Some(head) => joined.push_str(head),
            None => {
                joined.push_str(code);
                lines.push(std::mem::take(&mut joined));
            }
        }
    }
    lines
}

#[test]
fn the_readme_is_a_front_door_with_the_two_commands_and_the_map_on_its_first_screen() {
    let readme = read(&root().join("README.md"));
    assert!(readme.lines().count() <= 250, "README.md is over 250 lines");
    let first_screen: String = readme.lines().take(60).collect::<Vec<_>>().join("\n");
    for must in [
        "## The two commands",
        "cargo run --release -p taskgate -- serve",
        "bash tests/run.sh",
        "## Layout",
    ] {
        assert!(
            first_screen.contains(must),
            "{must:?} is not on the first screen"
        );
    }
    // .ci/run calls the README's test command.
    assert!(read(&root().join(".ci/run")).contains("tests/run.sh"));
}

#[test]
fn every_relative_link_leads_to_a_file() {
    for page in pages() {
        let text = read(&page);
        let base = page.parent().expect("a folder");
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let target = rest.split(')').next().unwrap_or_default();
            let target = target.split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            assert!(
                base.join(target).exists(),
                "{}: the link {target:?} leads nowhere",
                page.display()
            );
        }
    }
}

#[test]
fn every_script_and_file_a_shell_block_names_exists() {
    let known_outputs = ["taskgate-sink.jsonl", "config.json", "taskgate-state.redb"];
    for page in pages() {
        for line in shell_lines(&read(&page)) {
            for word in line.split_whitespace() {
                let word = word.trim_matches(|c| matches!(c, '"' | '\'' | '(' | ')' | ';'));
                let path_like = word.contains('/')
                    && !word.contains("://")
                    && !word.starts_with('/')
                    && !word.starts_with('$')
                    && !word.starts_with('-')
                    && !word.contains('=')
                    && !word.contains('{')
                    && [".sh", ".py", ".mjs", ".toml", ".yaml", ".http", ".service"]
                        .iter()
                        .any(|ext| word.ends_with(ext));
                if !path_like || known_outputs.iter().any(|out| word.ends_with(out)) {
                    continue;
                }
                // `cd examples/sdk && node x.mjs`-style lines name files relative to a folder
                // they change into; the rest are relative to the repository.
                let exists =
                    root().join(word).exists() || root().join("examples/sdk").join(word).exists();
                assert!(
                    exists,
                    "{}: {word:?} in `{line}` does not exist",
                    page.display()
                );
            }
        }
    }
}

/// The `taskgate` invocations of a shell line: the words after the binary, up to the end of
/// the command (`|`, `&&`, `;`, `)`, `>`).
fn invocations(line: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let word = words[i].trim_start_matches("$(");
        let is_binary = word == "taskgate" || word.ends_with("/release/taskgate");
        let is_cargo_run = word == "cargo"
            && words.get(i + 1) == Some(&"run")
            && words[i..].contains(&"-p")
            && words[i..].contains(&"taskgate");
        if is_binary || is_cargo_run {
            let start = if is_cargo_run {
                match words[i..].iter().position(|w| *w == "--") {
                    Some(dash) => i + dash + 1,
                    None => {
                        i += 1;
                        continue;
                    }
                }
            } else {
                i + 1
            };
            let args: Vec<String> = words[start..]
                .iter()
                .take_while(|w| {
                    !matches!(**w, "|" | "&&" | ";" | ">" | "2>&1") && !w.starts_with('>')
                })
                .map(|w| w.trim_end_matches(')').to_owned())
                .collect();
            i = start + args.len();
            found.push(args);
        } else {
            i += 1;
        }
    }
    found
}

fn help(subcommands: &[String]) -> String {
    let output = Command::new(bin())
        .args(subcommands)
        .arg("--help")
        .output()
        .expect("run taskgate --help");
    assert!(
        output.status.success(),
        "`taskgate {} --help` failed: {}",
        subcommands.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn every_taskgate_command_in_the_docs_is_one_the_binary_has_with_flags_it_lists() {
    let mut checked = BTreeSet::new();
    for page in pages() {
        for line in shell_lines(&read(&page)) {
            for args in invocations(&line) {
                // The subcommand path: the leading words that the help lists as subcommands.
                let mut path: Vec<String> = Vec::new();
                for arg in args.iter().filter(|a| !a.starts_with('-')) {
                    let listed = help(&path)
                        .lines()
                        .any(|l| l.split_whitespace().next() == Some(arg.as_str()));
                    if !listed {
                        break;
                    }
                    path.push(arg.clone());
                }
                let text = help(&path);
                for flag in args.iter().filter(|a| a.starts_with("--")) {
                    let flag = flag.split('=').next().unwrap_or_default();
                    assert!(
                        text.contains(flag),
                        "{}: `taskgate {}` has no {flag} (in `{line}`)",
                        page.display(),
                        path.join(" ")
                    );
                }
                checked.insert(path.join(" "));
            }
        }
    }
    // The docs show every subcommand a user needs.
    for must in ["serve", "check", "test", "token mint"] {
        assert!(
            checked.contains(must),
            "no `taskgate {must}` in README.md or docs/: {checked:?}"
        );
    }
}

/// docs/configuration.md's bounds table is the declarations' (`taskgate_filter::bounds`), row
/// for row: a bound changed in the code and not in the docs fails here.
#[test]
fn the_configuration_pages_bounds_are_the_declared_ones() {
    let page = read(&root().join("docs/configuration.md"));
    let rows: Vec<&str> = page
        .lines()
        .filter(|line| line.starts_with("| `") && line.matches('|').count() == 5)
        .collect();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect();
    let names: Vec<&str> = table.iter().map(|row| row[0].as_str()).collect();
    let declared: Vec<&str> = taskgate_filter::bounds::ALL
        .iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(
        names, declared,
        "the table's settings, in the declarations' order"
    );
    for (row, bounds) in table.iter().zip(taskgate_filter::bounds::ALL) {
        // Where the host works a bound out (one worker per CPU, at most max_connections per
        // client), the page says so in words.
        let default = match bounds.name {
            "serve.workers" => "one per CPU".to_owned(),
            _ => bounds.default.to_string(),
        };
        let max = match bounds.name {
            "serve.max_connections_per_client" => "serve.max_connections".to_owned(),
            _ => bounds.max.to_string(),
        };
        assert_eq!(
            row[1..],
            [default, bounds.min.to_string(), max],
            "{}",
            bounds.name
        );
    }
}

/// The inline code spans of a page outside its code blocks (its prose).
fn prose_spans(text: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(span), Some(_)) = (parts.next(), parts.next()) {
            spans.push(span.to_owned());
        }
    }
    spans
}

/// The prose names subcommands and flags too: each `taskgate …` span names subcommands the
/// binary has and flags their help lists, and the README's map of the CLI names only
/// subcommands and flags that exist (it once listed an `explain` the CLI never had).
#[test]
fn every_subcommand_and_flag_the_prose_names_is_one_the_binary_has() {
    let top = help(&[]);
    let subcommands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(subcommands.contains(&"serve".to_owned()), "{top}");
    for page in pages() {
        for span in prose_spans(&read(&page)) {
            let Some(rest) = span.strip_prefix("taskgate ") else {
                continue;
            };
            let words: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
            let Some(first) = words.first().filter(|w| !w.starts_with('-')) else {
                continue;
            };
            assert!(
                subcommands.contains(first),
                "{}: `{span}` names no subcommand the binary has",
                page.display()
            );
            let text = help(&words[..1]);
            for flag in words.iter().filter(|w| w.starts_with("--")) {
                let flag = flag
                    .trim_start_matches('[')
                    .split(['=', ']'])
                    .next()
                    .unwrap_or_default();
                assert!(
                    text.contains(flag),
                    "{}: `{span}`: no {flag}",
                    page.display()
                );
            }
        }
    }
    let readme = read(&root().join("README.md"));
    let row = readme
        .lines()
        .find(|line| line.starts_with("| [docs/cli.md]"))
        .expect("the README's row for docs/cli.md");
    for span in prose_spans(row) {
        let known = subcommands.contains(&span)
            || (span.starts_with("--")
                && (top.contains(&span) || help(&["test".to_owned()]).contains(&span)));
        assert!(
            known,
            "README.md's CLI row names `{span}`, which the binary does not have"
        );
    }
}
