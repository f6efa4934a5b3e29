//! Queries over the synchronous calls of a [`Graph`]: entry points, the longest chain from each,
//! cycles (strongly connected components), fan-out. Deterministic: nodes are visited by id.

use super::{EdgeKind, Graph, NodeKind};

impl Graph {
    /// For each node, its sync edges to workloads (edge indexes), ordered by target id.
    pub fn sync_adjacency(&self) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.nodes.len()];
        for (i, e) in self.edges.iter().enumerate() {
            if e.kind == EdgeKind::Sync
                && self
                    .nodes
                    .get(e.to)
                    .is_some_and(|n| n.kind == NodeKind::Workload)
                && let Some(list) = adj.get_mut(e.from)
            {
                list.push(i);
            }
        }
        for list in &mut adj {
            list.sort_by(|a, b| {
                self.nodes[self.edges[*a].to]
                    .id
                    .cmp(&self.nodes[self.edges[*b].to].id)
            });
        }
        adj
    }

    /// Workloads where synchronous chains start: those behind a Gateway, and those no workload
    /// calls synchronously; ordered by id.
    pub fn entry_points(&self) -> Vec<usize> {
        let mut called = vec![false; self.nodes.len()];
        for list in self.sync_adjacency() {
            for e in list {
                called[self.edges[e].to] = true;
            }
        }
        let mut out: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| {
                self.nodes[n].kind == NodeKind::Workload && (self.nodes[n].entry || !called[n])
            })
            .collect();
        out.sort_by(|a, b| self.nodes[*a].id.cmp(&self.nodes[*b].id));
        out
    }

    /// The longest synchronous chain from each entry point (as edge indexes), entry points in
    /// id order. Calls back into the chain are not followed (cycles are reported on their own),
    /// so each result is a simple path; the chain below a node is computed once.
    pub fn longest_chains(&self) -> Vec<(usize, Vec<usize>)> {
        let adj = self.sync_adjacency();
        let mut state = Chains::new(self.nodes.len());
        self.entry_points()
            .into_iter()
            .map(|entry| {
                self.visit(entry, &adj, &mut state);
                (entry, state.chain(self, entry))
            })
            .collect()
    }

    /// The longest synchronous chain from `start`, as edge indexes.
    pub fn longest_chain(&self, start: usize) -> Vec<usize> {
        let adj = self.sync_adjacency();
        let mut state = Chains::new(self.nodes.len());
        self.visit(start, &adj, &mut state);
        state.chain(self, start)
    }

    /// Depth-first from `start` (iterative: no recursion limit), each node's longest chain set
    /// when it finishes: its length and first edge. A node's first edge leads to a node that
    /// finished before it, so following them never loops.
    fn visit(&self, start: usize, adj: &[Vec<usize>], st: &mut Chains) {
        if st.done[start] {
            return;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        st.on_stack[start] = true;
        while let Some(&mut (v, ref mut i)) = stack.last_mut() {
            if let Some(&e) = adj[v].get(*i) {
                *i += 1;
                let w = self.edges[e].to;
                if st.on_stack[w] {
                    continue;
                }
                if st.done[w] {
                    if st.len[w] + 1 > st.len[v] {
                        st.len[v] = st.len[w] + 1;
                        st.next[v] = Some(e);
                    }
                } else {
                    st.on_stack[w] = true;
                    stack.push((w, 0));
                }
            } else {
                st.done[v] = true;
                st.on_stack[v] = false;
                stack.pop();
                if let Some(&(p, pi)) = stack.last()
                    && let Some(&e) = adj[p].get(pi.wrapping_sub(1))
                    && st.len[v] + 1 > st.len[p]
                {
                    st.len[p] = st.len[v] + 1;
                    st.next[p] = Some(e);
                }
            }
        }
    }

    /// Cycles of synchronous calls: for each strongly connected component of more than one
    /// workload, one cycle through its first node (by id), as edge indexes.
    pub fn sync_cycles(&self) -> Vec<Vec<usize>> {
        let adj = self.sync_adjacency();
        let components = tarjan(self.nodes.len(), |n| {
            adj[n].iter().map(|&e| self.edges[e].to).collect()
        });
        let mut out = Vec::new();
        for mut component in components.into_iter().filter(|c| c.len() > 1) {
            component.sort_by(|a, b| self.nodes[*a].id.cmp(&self.nodes[*b].id));
            let start = component[0];
            let mut inside = vec![false; self.nodes.len()];
            for &n in &component {
                inside[n] = true;
            }
            // Breadth-first within the component, back to `start`.
            let mut parent: Vec<Option<usize>> = vec![None; self.nodes.len()];
            let mut queue = std::collections::VecDeque::from([start]);
            let mut closing = None;
            while let Some(n) = queue.pop_front() {
                for &e in &adj[n] {
                    let to = self.edges[e].to;
                    if to == start {
                        closing = Some(e);
                        break;
                    }
                    if inside[to] && parent[to].is_none() {
                        parent[to] = Some(e);
                        queue.push_back(to);
                    }
                }
                if closing.is_some() {
                    break;
                }
            }
            let Some(last) = closing else { continue };
            let mut cycle = vec![last];
            let mut at = self.edges[last].from;
            while at != start {
                let Some(e) = parent[at] else { break };
                cycle.push(e);
                at = self.edges[e].from;
            }
            cycle.reverse();
            out.push(cycle);
        }
        out.sort_by(|a, b| {
            self.nodes[self.edges[a[0]].from]
                .id
                .cmp(&self.nodes[self.edges[b[0]].from].id)
        });
        out
    }

    /// `a → b → c` for a chain of edges; past 8 workloads, the first 6, how many are left out,
    /// and the last.
    pub fn describe_chain(&self, chain: &[usize]) -> String {
        let mut names: Vec<&str> = Vec::new();
        if let Some(&first) = chain.first() {
            names.push(&self.nodes[self.edges[first].from].id);
        }
        for &e in chain {
            names.push(&self.nodes[self.edges[e].to].id);
        }
        if names.len() > 8 {
            let last = names[names.len() - 1];
            let hidden = names.len() - 7;
            names.truncate(6);
            return format!("{} → … ({hidden} more) → {last}", names.join(" → "));
        }
        names.join(" → ")
    }
}

/// Per node: whether its longest chain is known, its length and first edge.
struct Chains {
    done: Vec<bool>,
    on_stack: Vec<bool>,
    len: Vec<usize>,
    next: Vec<Option<usize>>,
}

impl Chains {
    fn new(n: usize) -> Chains {
        Chains {
            done: vec![false; n],
            on_stack: vec![false; n],
            len: vec![0; n],
            next: vec![None; n],
        }
    }

    fn chain(&self, graph: &Graph, start: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = start;
        while let Some(e) = self.next[at] {
            out.push(e);
            at = graph.edges[e].to;
            if out.len() > graph.nodes.len() {
                break;
            }
        }
        out
    }
}

/// Tarjan's strongly connected components, iteratively (no recursion depth limit).
fn tarjan(n: usize, successors: impl Fn(usize) -> Vec<usize>) -> Vec<Vec<usize>> {
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, Vec<usize>, usize)> = vec![(root, successors(root), 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some((v, succ, i)) = work.last_mut() {
            let v = *v;
            if let Some(&w) = succ.get(*i) {
                *i += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, successors(w), 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some((parent, _, _)) = work.last() {
                    low[*parent] = low[*parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(component);
                }
            }
        }
    }
    out
}
