//! The stack picture: the tree of `strata tree`, drawn as SVG in the page
//! (no graphviz to install). One row a node in the order `strata tree`
//! prints them, indented by depth, an elbow line from each node to its
//! requires; each box links to its compose. Only positions are computed
//! here; the template writes the SVG, escaping every name.

use serde::Serialize;
use strata_compose::TreeNode;

const ROW: i64 = 56;
const BOX_H: i64 = 44;
const INDENT: i64 = 36;
const MARGIN: i64 = 8;
/// Wide enough for a long compose ID in the page's font.
const BOX_W: i64 = 420;

#[derive(Debug, Serialize)]
pub struct Picture {
    pub width: i64,
    pub height: i64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Serialize)]
pub struct Node {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub module: String,
    pub compose_id: String,
    pub state: String,
    pub pinned: bool,
    pub note: Option<String>,
}

/// A polyline: down from the parent, then right to the child.
#[derive(Debug, Serialize)]
pub struct Edge {
    pub points: String,
}

pub fn layout(tree: &TreeNode) -> Picture {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    place(tree, 0, None, &mut nodes, &mut edges);
    let width = nodes.iter().map(|n| n.x + n.w).max().unwrap_or(0) + MARGIN;
    let height = nodes.iter().map(|n| n.y + n.h).max().unwrap_or(0) + MARGIN;
    Picture {
        width,
        height,
        nodes,
        edges,
    }
}

fn place(
    node: &TreeNode,
    depth: i64,
    parent: Option<(i64, i64)>,
    nodes: &mut Vec<Node>,
    edges: &mut Vec<Edge>,
) {
    let x = MARGIN + depth * INDENT;
    let y = MARGIN + nodes.len() as i64 * ROW;
    if let Some((px, py)) = parent {
        let mid = y + BOX_H / 2;
        edges.push(Edge {
            points: format!("{px},{py} {px},{mid} {x},{mid}"),
        });
    }
    nodes.push(Node {
        x,
        y,
        w: BOX_W,
        h: BOX_H,
        module: node.module.clone(),
        compose_id: node.compose_id.clone(),
        state: node.state.clone(),
        pinned: node.pinned,
        // A module required from several places is drawn in full once.
        note: node.note.clone().or_else(|| {
            node.repeated
                .then(|| "shown above, with what it requires".to_string())
        }),
    });
    // Children hang from a point inside this box's left edge.
    let anchor = (x + INDENT / 2, y + BOX_H);
    for child in &node.requires {
        place(child, depth + 1, Some(anchor), nodes, edges);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn node(module: &str, requires: Vec<TreeNode>) -> TreeNode {
        TreeNode {
            module: module.into(),
            compose_id: format!("{}-1-20261125.n.0", module.replace(':', "-")),
            state: "finished".into(),
            pinned: false,
            note: None,
            repeated: false,
            requires,
        }
    }

    #[test]
    fn rows_in_tree_order_indented_by_depth() {
        let tree = node(
            "php:8.2",
            vec![
                node("apache:2.4", vec![node("base:1", vec![])]),
                node("db:1", vec![]),
            ],
        );
        let p = layout(&tree);
        let at: Vec<(&str, i64, i64)> = p
            .nodes
            .iter()
            .map(|n| (n.module.as_str(), n.x, n.y))
            .collect();
        assert_eq!(
            at,
            [
                ("php:8.2", 8, 8),
                ("apache:2.4", 44, 64),
                ("base:1", 80, 120),
                ("db:1", 44, 176)
            ]
        );
        assert_eq!(p.edges.len(), 3);
        assert_eq!(p.edges[0].points, "26,52 26,86 44,86");
        assert_eq!((p.width, p.height), (80 + BOX_W + 8, 176 + BOX_H + 8));
    }
}
