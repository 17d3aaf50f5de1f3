//! Release composes as the registry records them, in words: the one
//! rendering every front end (`strata releases list|show`, Python) prints.

use std::fmt::Write;
use strata_registry::ReleaseRecord;

fn time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// One release compose, every field.
pub fn release_text(r: &ReleaseRecord) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} {}", r.id, r.state.as_str().to_uppercase());
    let _ = writeln!(
        s,
        "  release     {} {}, date {}",
        r.name, r.version, r.release_date
    );
    let _ = writeln!(
        s,
        "  definition  {} (sha256 {})",
        r.definition_path.display(),
        r.definition_digest
    );
    let _ = writeln!(s, "  arches      {}", r.arches.join(", "));
    let _ = writeln!(s, "  started     {}", time(r.started_at));
    if let Some(t) = r.finished_at {
        let _ = writeln!(s, "  ended       {}", time(t));
    }
    if let Some(p) = &r.path {
        let _ = writeln!(s, "  published   {}", p.display());
    }
    let _ = writeln!(s, "  composes ({}):", r.inputs.len());
    let width = r.inputs.iter().map(|i| i.name.len()).max().unwrap_or(0);
    for i in &r.inputs {
        let _ = writeln!(
            s,
            "    {:<8}  {:<width$}  {}",
            i.kind.as_str(),
            i.name,
            i.compose_id
        );
    }
    if let Some(e) = &r.error {
        let _ = writeln!(s, "  error: {e}");
    }
    s
}

/// Release composes as a table, one a line.
pub fn releases_table(records: &[ReleaseRecord]) -> String {
    let mut s = String::new();
    let width = records.iter().map(|r| r.id.len()).max().unwrap_or(2).max(2);
    let _ = writeln!(
        s,
        "{:<width$}  {:<8}  {:<10}  COMPOSES",
        "ID", "STATE", "DATE"
    );
    for r in records {
        let _ = writeln!(
            s,
            "{:<width$}  {:<8}  {:<10}  {}",
            r.id,
            r.state.as_str(),
            r.release_date,
            r.inputs.len()
        );
    }
    s
}
