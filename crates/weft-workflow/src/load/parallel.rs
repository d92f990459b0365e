//! `parallel` nodes: their branches compile, and the shape of each branch is checked once
//! every node is compiled. A branch is the nodes reachable from its first node before the
//! join; it must reach the join, never end the run, never be entered from outside, share
//! no node with another branch, and write no `replace` field that another branch writes
//! (which value stayed would depend on which branch finished last).

use super::compiler::Compiler;
use crate::spec::{BranchSpec, EdgeSpec, ParallelSpec, Reducer};
use crate::workflow::{Branch, END, NameMap, Node, NodeBody, ParallelBody, Transition};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

impl Compiler<'_> {
    /// A parallel node's branches and join.
    pub(super) fn parallel(&mut self, name: &str, spec: &ParallelSpec) -> Option<ParallelBody> {
        let mut ok = true;
        if spec.branches.is_empty() {
            self.error_at_key(
                &["nodes", name],
                format!("parallel node `{name}` has no `branches`"),
                Some("add `branches: [<first node of a branch>, ...]`".into()),
            );
            ok = false;
        }
        if !spec.writes.is_empty() {
            self.error_at_key(
                &["nodes", name, "writes"],
                format!("parallel node `{name}` writes nothing: its branches write the state"),
                Some("move these writes to a node of a branch, or to the join".into()),
            );
            ok = false;
        }
        if spec.join.trim().is_empty() {
            self.error_at_key(
                &["nodes", name],
                format!("parallel node `{name}` has no `join`"),
                Some("add `join: <the node every branch ends at>` (or `join: end`)".into()),
            );
            return None;
        }
        if self
            .check_target(&["nodes", name, "join"], &spec.join)
            .is_none()
        {
            ok = false;
        }
        let mut branches = Vec::with_capacity(spec.branches.len());
        let mut starts = BTreeSet::new();
        for (index, branch) in spec.branches.iter().enumerate() {
            match self.branch(name, spec, index, branch, &mut starts) {
                Some(branch) => branches.push(branch),
                None => ok = false,
            }
        }
        ok.then(|| ParallelBody {
            branches,
            join: spec.join.clone(),
        })
    }

    /// Branch `index` of parallel node `name`.
    fn branch<'b>(
        &mut self,
        name: &str,
        spec: &ParallelSpec,
        index: usize,
        branch: &'b BranchSpec,
        starts: &mut BTreeSet<&'b str>,
    ) -> Option<Branch> {
        let index_text = index.to_string();
        let path = ["nodes", name, "branches", index_text.as_str()];
        let start = branch.start();
        let target_path = match branch {
            BranchSpec::Node(_) => path.to_vec(),
            BranchSpec::Conditional(_) => [&path[..], &["to"][..]].concat(),
        };
        let problem = if start == END {
            Some(format!("a branch cannot start at `{END}`"))
        } else if start == name {
            Some(format!(
                "parallel node `{name}` cannot be a branch of itself"
            ))
        } else if start == spec.join {
            Some(format!(
                "branch `{start}` starts at the join; a branch ends there"
            ))
        } else if !starts.insert(start) {
            Some(format!("branch `{start}` is listed twice"))
        } else {
            None
        };
        if let Some(problem) = problem {
            self.error_at_value(&target_path, problem, None);
            return None;
        }
        self.check_target(&target_path, start)?;
        let when = match branch {
            BranchSpec::Conditional(EdgeSpec {
                when: Some(condition),
                ..
            }) => Some(self.condition(&path, condition)?),
            BranchSpec::Node(_) | BranchSpec::Conditional(_) => None,
        };
        Some(Branch {
            start: start.to_owned(),
            when,
        })
    }

    /// Checks the branches of every parallel node of `nodes` (all of which compiled).
    pub(super) fn check_branches(&mut self, nodes: &NameMap<Node>) {
        for (name, node) in nodes {
            if let NodeBody::Parallel(body) = &node.body {
                self.check_parallel(nodes, name, body);
            }
        }
    }

    fn check_parallel(&mut self, nodes: &NameMap<Node>, name: &str, body: &ParallelBody) {
        let mut regions: Vec<(&str, BTreeSet<&str>)> = Vec::new();
        for branch in &body.branches {
            let region = self.region(nodes, name, body, &branch.start);
            regions.push((branch.start.as_str(), region));
        }
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for (start, region) in &regions {
            for member in region {
                if let Some(other) = owner.insert(member, start) {
                    self.error_at_key(
                        &["nodes", member],
                        format!(
                            "node `{member}` is in two branches of parallel node `{name}` (`{other}` and `{start}`); a node belongs to one branch"
                        ),
                        Some(format!("give each branch its own nodes, meeting at `{}`", body.join)),
                    );
                }
            }
        }
        for (outside, node) in nodes {
            if outside == name || owner.contains_key(outside.as_str()) {
                continue;
            }
            for target in successors(node) {
                if let Some(start) = owner.get(target) {
                    self.error_at_key(
                        &["nodes", outside],
                        format!(
                            "node `{outside}` goes to `{target}`, inside branch `{start}` of parallel node `{name}`; a branch is entered only from its parallel node"
                        ),
                        None,
                    );
                }
            }
        }
        self.check_replace_writes(nodes, name, &regions);
    }

    /// The nodes of the branch that starts at `start`: those reachable from it before the
    /// join. A branch that ends the run, goes back to its parallel node or never reaches
    /// the join is reported.
    fn region<'n>(
        &mut self,
        nodes: &'n NameMap<Node>,
        name: &str,
        body: &ParallelBody,
        start: &'n str,
    ) -> BTreeSet<&'n str> {
        let mut region = BTreeSet::new();
        let mut reaches_join = false;
        let mut queue = VecDeque::from([start]);
        while let Some(member) = queue.pop_front() {
            if member == body.join {
                reaches_join = true;
                continue;
            }
            if member == name {
                self.error_at_key(
                    &["nodes", start],
                    format!(
                        "branch `{start}` of parallel node `{name}` goes back to `{name}`; a branch ends at `{}`",
                        body.join
                    ),
                    None,
                );
                continue;
            }
            if !region.insert(member) {
                continue;
            }
            let Some(node) = nodes.get(member) else {
                continue;
            };
            if matches!(node.body, NodeBody::End(_)) || matches!(node.next, Transition::End) {
                self.error_at_key(
                    &["nodes", member],
                    format!(
                        "node `{member}` ends the run, but it is in branch `{start}` of parallel node `{name}`; a branch ends by going to `{}`",
                        body.join
                    ),
                    Some(format!("point its `next` at `{}`", body.join)),
                );
            }
            queue.extend(successors(node));
        }
        if !reaches_join {
            self.error_at_key(
                &["nodes", name, "branches"],
                format!(
                    "branch `{start}` of parallel node `{name}` never reaches its join `{}`",
                    body.join
                ),
                Some(format!(
                    "point the `next` of the branch's last node at `{}`",
                    body.join
                )),
            );
        }
        region
    }

    /// Two branches that write one `replace` field are reported at the second writer.
    fn check_replace_writes(
        &mut self,
        nodes: &NameMap<Node>,
        name: &str,
        regions: &[(&str, BTreeSet<&str>)],
    ) {
        let mut writers: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        for (start, region) in regions {
            let mut own: BTreeMap<&str, &str> = BTreeMap::new();
            for member in region {
                let Some(node) = nodes.get(*member) else {
                    continue;
                };
                for write in &node.writes {
                    let replaces = self
                        .fields
                        .get(&write.field)
                        .is_some_and(|field| field.reducer == Reducer::Replace);
                    if !replaces {
                        continue;
                    }
                    own.entry(write.field.as_str()).or_insert(member);
                    if let Some((other_start, other_node)) = writers.get(write.field.as_str()) {
                        self.error_at_key(
                            &["nodes", member, "writes", write.field.as_str()],
                            format!(
                                "branches `{other_start}` (node `{other_node}`) and `{start}` (node `{member}`) of parallel node `{name}` both write `{}`, a `replace` field; they run at the same time, so the value kept would depend on which finished last",
                                write.field
                            ),
                            Some(format!(
                                "write `{}` in one branch only, or give it a reducer that combines (append, merge, add)",
                                write.field
                            )),
                        );
                    }
                }
            }
            for (field, member) in own {
                writers.entry(field).or_insert((start, member));
            }
        }
    }
}

/// Where a node may go next: its `next` targets and, for a parallel node, its branches.
pub(super) fn successors(node: &Node) -> Vec<&str> {
    let mut targets: Vec<&str> = match &node.next {
        Transition::End => Vec::new(),
        Transition::To(target) => vec![target.as_str()],
        Transition::Edges(edges) => edges.iter().map(|edge| edge.to.as_str()).collect(),
    };
    if let NodeBody::Parallel(body) = &node.body {
        targets.extend(body.branches.iter().map(|branch| branch.start.as_str()));
    }
    targets
}
