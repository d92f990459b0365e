//! The workflow's tool sections (`shell`, `http_get`, `mcp`), checked where they are
//! written, and the settings of a workflow together with its sub-workflows'.

use super::compiler::Compiler;
use crate::error::McpServerConflict;
use crate::tooling::{SettingError, ToolSettings, valid_server_name};
use crate::workflow::{Activity, NodeBody, Workflow};

impl Compiler<'_> {
    /// The tool settings of this file's spec; problems are reported at their fields.
    pub(super) fn tool_settings(&mut self) -> ToolSettings {
        let spec = self.spec;
        let mut settings = ToolSettings::default();
        if let Some(shell) = &spec.shell {
            match shell.compile() {
                Ok(allow) => settings.shell = Some(allow),
                Err(errors) => self.setting_errors(&["shell"], errors),
            }
        }
        if let Some(http) = &spec.http_get {
            match http.compile() {
                Ok(http) => settings.http_get = Some(http),
                Err(errors) => self.setting_errors(&["http_get"], errors),
            }
        }
        for (name, server) in &spec.mcp {
            if !valid_server_name(name) {
                self.error_at_key(
                    &["mcp", name],
                    format!("`{name}` cannot name an MCP server"),
                    Some(
                        "use letters, digits, `_` and `-`: its tools are called `<server>.<tool>`"
                            .into(),
                    ),
                );
            }
            match server.compile() {
                Ok(server) => {
                    settings.mcp.insert(name.clone(), server);
                }
                Err(errors) => self.setting_errors(&["mcp", name], errors),
            }
        }
        settings
    }

    fn setting_errors(&mut self, section: &[&str], errors: Vec<SettingError>) {
        for error in errors {
            let mut path = section.to_vec();
            path.extend(error.field.iter().copied());
            if error.field.is_empty() {
                self.error_at_key(&path, error.message, error.help);
            } else {
                self.error_at_value(&path, error.message, error.help);
            }
        }
    }
}

impl Workflow {
    /// The tool settings of this workflow and every sub-workflow it runs: shell programs and
    /// allowed hosts together, MCP servers by name. Two files that define one server name
    /// differently are an error naming both.
    pub fn all_tool_settings(&self) -> Result<ToolSettings, McpServerConflict> {
        let mut combined = ToolSettings::default();
        let mut stack = vec![self];
        let mut seen = std::collections::HashSet::new();
        while let Some(workflow) = stack.pop() {
            if !seen.insert(workflow.location.clone()) {
                continue;
            }
            let settings = &workflow.tools;
            if let Some(programs) = &settings.shell {
                let allow = combined.shell.get_or_insert_with(Vec::new);
                for program in programs {
                    if !allow.contains(program) {
                        allow.push(program.clone());
                    }
                }
            }
            if let Some(http) = &settings.http_get {
                match &mut combined.http_get {
                    None => combined.http_get = Some(http.clone()),
                    Some(existing) => {
                        for host in &http.allow_hosts {
                            if !existing.allow_hosts.contains(host) {
                                existing.allow_hosts.push(host.clone());
                            }
                        }
                        existing.max_bytes = existing.max_bytes.max(http.max_bytes);
                        existing.timeout = existing.timeout.max(http.timeout);
                    }
                }
            }
            for (name, server) in &settings.mcp {
                match combined.mcp.get(name) {
                    Some(existing) if existing != server => {
                        let first: &std::path::PathBuf =
                            combined.mcp_files.get(name).unwrap_or(&workflow.source);
                        return Err(McpServerConflict {
                            name: name.clone(),
                            first: first.clone(),
                            second: workflow.source.clone(),
                        });
                    }
                    Some(_) => {}
                    None => {
                        combined.mcp.insert(name.clone(), server.clone());
                        combined
                            .mcp_files
                            .insert(name.clone(), workflow.source.clone());
                    }
                }
            }
            for node in workflow.nodes.values() {
                let activity = match &node.body {
                    NodeBody::Activity(activity) => Some(activity),
                    NodeBody::Map(map) => Some(&map.branch),
                    NodeBody::Router
                    | NodeBody::Parallel(_)
                    | NodeBody::Human(_)
                    | NodeBody::End(_) => None,
                };
                if let Some(Activity::Workflow(child)) = activity {
                    stack.push(&child.workflow);
                }
            }
        }
        Ok(combined)
    }
}
