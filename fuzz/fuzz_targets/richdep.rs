//! Rich dependencies: `RichDep::parse` on any UTF-8 text; on success, the
//! Display form must parse back to the same value.
//!
//! Display prints a top-level simple dependency without its parentheses
//! (`(a >= 1)` prints `a >= 1`, as libsolv does), so that form is wrapped
//! in parentheses again before re-parsing.
//!
//! By default the check compares normalized values: left-nested chains
//! print as right-nested ones, and versions print as libsolv prints them
//! (`:1.0` and `0:1.0` as `1.0`), both without changing the meaning.
//! `STRATA_FUZZ_STRICT=1` checks the exact round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use strata_model::{RichDep, RichOp};

fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("STRATA_FUZZ_STRICT").is_some_and(|v| v != "0"))
}

fn reparse(printed: &str) -> Result<RichDep, strata_model::RichDepError> {
    if printed.starts_with('(') {
        RichDep::parse(printed)
    } else {
        RichDep::parse(&format!("({printed})"))
    }
}

/// Flattens a chain of one associative operator into its operands.
fn chain(d: &RichDep, op: RichOp, out: &mut Vec<RichDep>) {
    match d {
        RichDep::Op { op: o, left, right } if *o == op => {
            chain(left, op, out);
            chain(right, op, out);
        }
        other => out.push(normalize(other)),
    }
}

/// Re-associates `and`/`or`/`with` chains to the right, the shape the parser
/// builds, so that `((a or b) or c)` and `(a or (b or c))` compare equal.
fn normalize(d: &RichDep) -> RichDep {
    match d {
        RichDep::Simple { name, flags, evr } => RichDep::Simple {
            name: name.clone(),
            flags: *flags,
            // To a fixed point: a version that itself holds a colon
            // (invalid in rpm, but parseable) sheds one level per print.
            evr: {
                let mut e = evr.clone();
                loop {
                    let next = strata_model::Evr::parse(&e).to_string();
                    if next == e {
                        break e;
                    }
                    e = next;
                }
            },
        },
        RichDep::Op { op, left, right } => match op {
            RichOp::And | RichOp::Or | RichOp::With => {
                let mut items = Vec::new();
                chain(d, *op, &mut items);
                let mut acc = items.pop().expect("two items");
                while let Some(l) = items.pop() {
                    acc = RichDep::Op {
                        op: *op,
                        left: Box::new(l),
                        right: Box::new(acc),
                    };
                }
                acc
            }
            _ => RichDep::Op {
                op: *op,
                left: Box::new(normalize(left)),
                right: Box::new(normalize(right)),
            },
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(dep) = RichDep::parse(text) else {
        return;
    };
    let printed = dep.to_string();
    if strict() {
        match reparse(&printed) {
            Ok(back) => assert_eq!(back, dep, "round trip changed {text:?} (printed {printed:?})"),
            Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
        }
        return;
    }
    let back = match reparse(&printed) {
        Ok(back) => back,
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
    };
    assert_eq!(
        normalize(&back),
        normalize(&dep),
        "round trip changed {text:?} (printed {printed:?})"
    );
    // Printing is a fixed point after one round.
    assert_eq!(back.to_string(), printed, "printing {text:?} is not stable");
});
