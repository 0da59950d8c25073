//! difftest-ref AREA: reads cases (one JSON array per line) on stdin and
//! writes one JSON result per line, computed the way Tremor 0.11 computes
//! it with the Rust crates it links. AREA is strftime, strptime, regex
//! or float.
// 0.11 builds instants with NaiveDateTime::from_timestamp (deprecated later)
#![allow(deprecated)]
use chrono::{DateTime, NaiveDateTime, Utc};
use regex::Regex;
use serde_json::{json, Value};
use std::io::{self, BufRead, Write};
use std::panic;

/// Tremor 0.11 formats a zoned instant only when the format names a zone:
/// %+ %z %Z, or %:z / %#z (the character after ':' or '#' is consumed).
fn names_zone(fmt: &str) -> bool {
    let mut it = fmt.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            continue;
        }
        match it.next() {
            Some('+') | Some('z') | Some('Z') => return true,
            Some(':') | Some('#') => {
                if it.next() == Some('z') {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// datetime::format(ns, fmt) as 0.11 computes it; None where it panics.
fn strftime(ns: u64, fmt: &str) -> Option<String> {
    let fmt = fmt.to_string();
    panic::catch_unwind(move || {
        let naive = NaiveDateTime::from_timestamp((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32);
        if names_zone(&fmt) {
            format!("{}", DateTime::<Utc>::from_utc(naive, Utc).format(&fmt))
        } else {
            format!("{}", naive.format(&fmt))
        }
    })
    .ok()
}

/// datetime::parse(input, fmt) as 0.11 computes it: nanoseconds as u64
/// (an instant before 1970 wraps), None where chrono refuses.
fn strptime(input: &str, fmt: &str) -> Option<u64> {
    let ns = if names_zone(fmt) {
        DateTime::parse_from_str(input, fmt).ok()?.timestamp_nanos()
    } else {
        NaiveDateTime::parse_from_str(input, fmt).ok()?.timestamp_nanos()
    };
    Some(ns as u64)
}

fn regex_case(pat: &str, subject: &str, rep: &str) -> Value {
    let re = match Regex::new(pat) {
        Ok(re) => re,
        Err(_) => return json!({"error": true}),
    };
    let caps: Value = match re.captures(subject) {
        None => Value::Null,
        Some(c) => (0..c.len())
            .map(|i| c.get(i).map(|m| json!([m.start(), m.end()])).unwrap_or(Value::Null))
            .collect(),
    };
    let split: Vec<&str> = re.split(subject).collect();
    json!({
        "is_match": re.is_match(subject),
        "captures": caps,
        "replace": re.replace(subject, rep),
        "replace_all": re.replace_all(subject, rep),
        "split": split,
    })
}

/// A float as 0.11 prints it. JSON: tremor-value's writer (value-trait
/// 0.2.8 write_float) calls ryu's format_finite for every float, the
/// infinities and NaN included, where serde_json would write null.
/// Display: 0.11 is built with Rust 1.52.1 (its rust-toolchain), whose `{}`
/// printed -0.0 as "0"; the sign came with Rust 1.53, and this program is
/// built with a later std.
fn float_case(bits: u64) -> Value {
    let f = f64::from_bits(bits);
    let display = if f == 0.0 { "0".to_string() } else { format!("{}", f) };
    json!({"display": display, "json": ryu::Buffer::new().format_finite(f)})
}

fn main() {
    panic::set_hook(Box::new(|_| {}));
    let area = std::env::args().nth(1).expect("usage: difftest-ref strftime|regex|float");
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for line in stdin.lock().lines() {
        let case: Vec<Value> = serde_json::from_str(&line.expect("read")).expect("case");
        let s = |i: usize| case[i].as_str().expect("string field");
        let res = match area.as_str() {
            "strftime" => match strftime(s(0).parse().expect("u64"), s(1)) {
                Some(t) => json!(t),
                None => json!({"error": true}),
            },
            "strptime" => match panic::catch_unwind(|| strptime(s(0), s(1))) {
                Ok(Some(ns)) => json!(ns.to_string()),
                _ => json!({"error": true}),
            },
            "regex" => regex_case(s(0), s(1), s(2)),
            "float" => float_case(u64::from_str_radix(s(0), 16).expect("hex bits")),
            _ => panic!("unknown area"),
        };
        writeln!(out, "{}", res).expect("write");
    }
}
