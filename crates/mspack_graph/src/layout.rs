//! A deterministic layered layout: each context a box, the boxes left to right by the lowest
//! rank of their nodes (the longest chain of edges reaching a node, back edges ignored); in a
//! box, one column per rank, nodes stacked by id.

use crate::View;

pub const NODE_W: f64 = 180.0;
pub const NODE_H: f64 = 40.0;
pub const GAP_Y: f64 = 18.0;
/// Padding inside a context box, and the gap between the sub-columns of its ranks.
pub const PAD: f64 = 30.0;
pub const SUB_GAP: f64 = 70.0;
pub const COL_GAP: f64 = 60.0;
pub const TOP: f64 = 120.0;
pub const LEFT: f64 = 20.0;
pub const HEADER: f64 = 30.0;
/// Boxes wrap to a new row past this width; rows are this far apart.
pub const MAX_WIDTH: f64 = 1800.0;
pub const ROW_GAP: f64 = 60.0;

/// A context box and its nodes' positions.
pub struct Column<'v> {
    pub context: &'v str,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

pub struct Layout<'v> {
    pub columns: Vec<Column<'v>>,
    /// Top-left corner of each node.
    pub positions: Vec<(f64, f64)>,
    pub width: f64,
    pub height: f64,
}

/// The rank of each node: the longest path of edges reaching it, cycles broken where a
/// depth-first walk (in node order) meets a node on its stack.
fn ranks(view: &View) -> Vec<usize> {
    let n = view.nodes.len();
    let mut incoming: Vec<Vec<usize>> = vec![Vec::new(); n];
    // Events decouple: async edges do not push their consumer a layer down.
    for e in view.edges.iter().filter(|e| e.kind != "async") {
        if e.from != e.to {
            incoming[e.to].push(e.from);
        }
    }
    let mut rank: Vec<Option<usize>> = vec![None; n];
    let mut on_stack = vec![false; n];
    for start in 0..n {
        // Iterative: (node, next incoming index, best so far).
        let mut stack: Vec<(usize, usize, usize)> = Vec::new();
        if rank[start].is_none() {
            stack.push((start, 0, 0));
            on_stack[start] = true;
        }
        while let Some(&mut (v, ref mut i, ref mut best)) = stack.last_mut() {
            if let Some(&u) = incoming[v].get(*i) {
                *i += 1;
                if let Some(r) = rank[u] {
                    *best = (*best).max(r + 1);
                } else if !on_stack[u] {
                    on_stack[u] = true;
                    stack.push((u, 0, 0));
                }
            } else {
                let best = *best;
                rank[v] = Some(best);
                on_stack[v] = false;
                stack.pop();
                if let Some((_, _, parent_best)) = stack.last_mut() {
                    *parent_best = (*parent_best).max(best + 1);
                }
            }
        }
    }
    rank.into_iter().map(|r| r.unwrap_or(0)).collect()
}

pub fn layout(view: &View) -> Layout<'_> {
    let rank = ranks(view);
    let contexts = view.contexts();
    // Columns by the lowest rank of their nodes, then name.
    let mut order: Vec<(usize, &str, Vec<usize>)> = contexts
        .into_iter()
        .map(|(c, mut nodes)| {
            nodes.sort_by(|a, b| {
                (rank[*a], &view.nodes[*a].id).cmp(&(rank[*b], &view.nodes[*b].id))
            });
            let min = nodes.iter().map(|&n| rank[n]).min().unwrap_or(0);
            (min, c, nodes)
        })
        .collect();
    order.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut positions = vec![(0.0, 0.0); view.nodes.len()];
    let mut columns = Vec::new();
    let mut max_height: f64 = 0.0;
    let mut x = LEFT;
    let mut row_top = TOP;
    let mut row_height: f64 = 0.0;
    let mut width: f64 = 0.0;
    for (_, context, nodes) in &order {
        // Within a context, one sub-column per distinct rank of its nodes.
        let mut local: Vec<usize> = nodes.iter().map(|&n| rank[n]).collect();
        local.dedup();
        let box_width = PAD * 2.0 + local.len() as f64 * (NODE_W + SUB_GAP) - SUB_GAP;
        // Wrap to a new row of boxes past the page width.
        if x > LEFT && x + box_width > MAX_WIDTH {
            x = LEFT;
            row_top += row_height + ROW_GAP;
            row_height = 0.0;
        }
        let mut height: f64 = HEADER;
        for (sub, r) in local.iter().enumerate() {
            let mut y = row_top + HEADER;
            for &n in nodes.iter().filter(|&&n| rank[n] == *r) {
                positions[n] = (x + PAD + sub as f64 * (NODE_W + SUB_GAP), y);
                y += NODE_H + GAP_Y;
            }
            height = height.max(y - row_top);
        }
        row_height = row_height.max(height);
        columns.push(Column {
            context,
            x,
            y: row_top,
            width: box_width,
            height,
        });
        x += box_width + COL_GAP;
        width = width.max(x);
    }
    max_height = max_height.max(row_top + row_height - TOP);
    let width = width + LEFT;
    Layout {
        columns,
        positions,
        width: width.max(720.0),
        height: TOP + max_height + 130.0,
    }
}
