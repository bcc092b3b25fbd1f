//! The peer in `pnpm bench` (issue #16): rsigma, a Rust Sigma engine, over the
//! same audit log and the same rules (restated as standard Sigma), so our
//! figures have a reference beside them.
//!
//!     rsigma-bench <sigma rules dir> <events, JSON lines>
//!
//! Loads every rule of the directory into one `Engine` (the crate's API for a
//! set of rules: parse, then `add_collection`, which compiles each rule and
//! builds the candidate index once), then reads the events with a buffered
//! reader, parses each line with serde_json and evaluates it against every
//! rule. Prints one JSON line on stdout:
//!
//!     {"rules":100,"events":200000,"matches":4149,"loadSeconds":…,"evalSeconds":…,"eventsPerSec":…,"maxRssBytes":…}
//!
//! `matches` counts (event, rule) matches: every rule an event matches, once.
//! `loadSeconds` is parsing and compiling the rules; `evalSeconds` is reading,
//! parsing and evaluating the events. Any rule that does not parse or compile,
//! and any line that is not JSON, fails the run: the bench compares match
//! counts, so nothing may be left out quietly.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use rsigma_eval::{Engine, JsonEvent};
use rsigma_parser::parse_sigma_directory;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: rsigma-bench <sigma rules dir> <events.jsonl>");
        return ExitCode::from(2);
    }
    match run(Path::new(&args[1]), Path::new(&args[2])) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rsigma-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(rules_dir: &Path, events_path: &Path) -> Result<(), String> {
    let load_start = Instant::now();
    let collection = parse_sigma_directory(rules_dir).map_err(|e| format!("cannot read rules: {e}"))?;
    if collection.has_errors() {
        return Err(format!("rules that do not parse: {}", collection.errors.join("; ")));
    }
    let mut engine = Engine::new();
    engine
        .add_collection(&collection)
        .map_err(|e| format!("a rule does not compile: {e}"))?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    let rules = engine.rule_count();
    if rules != collection.rules.len() || rules == 0 {
        return Err(format!("{} rules read, {rules} loaded", collection.rules.len()));
    }

    let eval_start = Instant::now();
    let file = File::open(events_path).map_err(|e| format!("cannot open {}: {e}", events_path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    let mut events: u64 = 0;
    let mut matches: u64 = 0;
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(|e| format!("cannot read events: {e}"))?;
        if read == 0 {
            break;
        }
        let text = line.trim_end();
        if text.is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("line {} is not JSON: {e}", events + 1))?;
        events += 1;
        matches += engine.evaluate(&JsonEvent::borrow(&value)).len() as u64;
    }
    let eval_seconds = eval_start.elapsed().as_secs_f64();

    let report = serde_json::json!({
        "rules": rules,
        "events": events,
        "matches": matches,
        "loadSeconds": load_seconds,
        "evalSeconds": eval_seconds,
        "eventsPerSec": events as f64 / eval_seconds,
        "maxRssBytes": max_rss_bytes(),
    });
    println!("{report}");
    Ok(())
}

/// The process's peak resident set (VmHWM), or null where /proc is not there.
fn max_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}
