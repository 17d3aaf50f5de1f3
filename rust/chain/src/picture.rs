//! Pictures of the graph: an impact's plan and a stack's tree as Graphviz
//! `dot` text, and SVG drawn from it by Graphviz's `dot` program (run
//! bounded in time, like every program from outside).
//!
//! Nodes are coloured by state: recomposed (auto), waiting for approval,
//! up to date, left alone by policy, not affected; a tree's top compose
//! by its state. Edges point from a module to what it requires, so the
//! base is drawn at the bottom; artifacts are drawn as folders above the
//! stacks they install.

use crate::graph::LeftAlone;
use crate::impact::Impact;
use crate::process::{run_bounded, NotRun};
use std::fmt::Write;
use std::time::Duration;
use strata_compose::TreeNode;
use strata_model::Trigger;

/// How long `dot` may take to draw one picture.
const DOT_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest SVG kept.
const MAX_SVG_BYTES: u64 = 64 << 20;

/// A picture that cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error(
        "cannot draw the picture: Graphviz's `dot` is not installed (install the package \
         `graphviz`: `apt install graphviz` on Debian, `dnf install graphviz` on Fedora)"
    )]
    NoDot(#[source] std::io::Error),
    #[error("cannot draw the picture: `dot` did not finish within {} s", DOT_TIMEOUT.as_secs())]
    Timeout,
    #[error("cannot draw the picture: `dot` failed: {stderr}")]
    Failed { stderr: String },
    #[error("cannot write the picture's input for `dot`")]
    Io(#[source] std::io::Error),
}

/// A string as a dot ID: quoted, with quotes, backslashes and line breaks
/// escaped (names come from definitions and the registry).
fn id(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A label of several lines: each escaped as in [`id`], joined by dot's
/// line break.
fn label(lines: &[&str]) -> String {
    let inner: Vec<String> = lines
        .iter()
        .map(|l| {
            let quoted = id(l);
            quoted[1..quoted.len() - 1].to_owned()
        })
        .collect();
    format!("\"{}\"", inner.join("\\n"))
}

const HEADER: &str = "  rankdir=BT;\n  node [shape=box, style=\"rounded,filled\", \
                      fontname=\"sans-serif\"];\n";

/// The plan as a graph: every catalog module, coloured by what the plan
/// does with it, and its requirements.
pub fn impact_dot(impact: &Impact) -> String {
    let mut out = String::from("digraph impact {\n");
    out.push_str(HEADER);
    for (i, step) in impact.plan.steps.iter().enumerate() {
        let key = format!("{}:{}", step.name, step.stream);
        let (colour, what) = match step.trigger {
            Trigger::Approve => ("#f6bd60", "waits for approval"),
            _ => ("#f28482", "recomposed"),
        };
        let _ = writeln!(
            out,
            "  {} [fillcolor={}{}, label={}];",
            id(&key),
            id(colour),
            shape(impact, &key),
            label(&[&key, &format!("{}. {what}", i + 1)])
        );
    }
    for (key, reason) in &impact.plan.left_alone {
        let colour = match reason {
            LeftAlone::UpToDate => "#84a59d",
            LeftAlone::Unaffected => "#f7f7f7",
            LeftAlone::NotInRepository { .. } => "#f6d186",
            _ => "#cccccc",
        };
        let _ = writeln!(
            out,
            "  {} [fillcolor={}{}, label={}];",
            id(key),
            id(colour),
            shape(impact, key),
            label(&[key, &reason.to_string()])
        );
    }
    for (module, requires) in &impact.requires {
        for r in requires {
            let _ = writeln!(out, "  {} -> {};", id(module), id(r));
        }
    }
    out.push_str("}\n");
    out
}

/// The node attribute that sets an artifact apart from the modules.
fn shape(impact: &Impact, key: &str) -> &'static str {
    if impact.artifacts.contains_key(key) {
        ", shape=folder, style=filled"
    } else {
        ""
    }
}

/// A stack's tree as a graph: each module with the compose it uses.
pub fn tree_dot(tree: &TreeNode) -> String {
    fn visit(n: &TreeNode, top: bool, out: &mut String, seen: &mut Vec<String>) {
        if !seen.contains(&n.module) {
            seen.push(n.module.clone());
            let colour = match (top, n.state.as_str()) {
                (true, "failed") => "#f28482",
                (true, "started") => "#f6bd60",
                _ => "#84a59d",
            };
            let compose = if n.pinned {
                format!("{} (pinned)", n.compose_id)
            } else {
                n.compose_id.clone()
            };
            let _ = writeln!(
                out,
                "  {} [fillcolor={}, label={}];",
                id(&n.module),
                id(colour),
                label(&[&n.module, &compose])
            );
        }
        for r in &n.requires {
            let _ = writeln!(out, "  {} -> {};", id(&n.module), id(&r.module));
            visit(r, false, out, seen);
        }
    }
    let mut out = String::from("digraph stack {\n");
    out.push_str(HEADER);
    visit(tree, true, &mut out, &mut Vec::new());
    out.push_str("}\n");
    out
}

/// SVG drawn from `dot` text by Graphviz.
pub fn svg(dot: &str) -> Result<Vec<u8>, PictureError> {
    let mut input = tempfile::NamedTempFile::new().map_err(PictureError::Io)?;
    std::io::Write::write_all(&mut input, dot.as_bytes()).map_err(PictureError::Io)?;
    let ran = run_bounded(
        std::process::Command::new("dot")
            .arg("-Tsvg")
            .arg(input.path()),
        DOT_TIMEOUT,
        [MAX_SVG_BYTES, 4096],
    )
    .map_err(|e| match e {
        NotRun::Spawn(e) => PictureError::NoDot(e),
        NotRun::Timeout => PictureError::Timeout,
    })?;
    if !ran.status.success() {
        return Err(PictureError::Failed {
            stderr: strata_model::one_line(String::from_utf8_lossy(&ran.stderr).trim())
                .into_owned(),
        });
    }
    Ok(ran.stdout)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names_cannot_break_out_of_their_quotes() {
        assert_eq!(id(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(id("a\nb;}"), "\"a b;}\"");
        assert_eq!(label(&["x\"", "y"]), r#""x\"\ny""#);
    }
}
