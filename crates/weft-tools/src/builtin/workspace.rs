//! The folder file tools are confined to. A path a tool is given is relative to it; `..`,
//! absolute paths and symbolic links that lead outside are refused.

use std::path::{Component, Path, PathBuf};
use weft_tool::ToolFailure;

/// A folder that file tools may read and write under.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// The workspace at `root`, which must exist.
    pub fn new(root: &Path) -> std::io::Result<Self> {
        Ok(Self {
            root: root.canonicalize()?,
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `path` leads, checked to be inside the workspace. For a file that may not exist
    /// yet (`must_exist` false), its folder must exist and be inside.
    pub fn resolve(&self, path: &str, must_exist: bool) -> Result<PathBuf, ToolFailure> {
        let relative = Path::new(path);
        if relative.is_absolute() {
            return Err(ToolFailure::invalid_arguments(format!(
                "`{path}` is an absolute path; give a path relative to the workspace"
            )));
        }
        if relative
            .components()
            .any(|part| !matches!(part, Component::Normal(_) | Component::CurDir))
        {
            return Err(ToolFailure::invalid_arguments(format!(
                "`{path}` leaves the workspace (`..` is not allowed)"
            )));
        }
        let joined = self.root.join(relative);
        let resolved = if must_exist || joined.exists() {
            joined
                .canonicalize()
                .map_err(|error| not_found(path, &error))?
        } else {
            let name = joined
                .file_name()
                .ok_or_else(|| ToolFailure::invalid_arguments(format!("`{path}` names no file")))?
                .to_owned();
            let parent = joined.parent().unwrap_or(&self.root);
            parent
                .canonicalize()
                .map_err(|error| not_found(path, &error))?
                .join(name)
        };
        if !resolved.starts_with(&self.root) {
            return Err(ToolFailure::invalid_arguments(format!(
                "`{path}` leads outside the workspace (through a symbolic link)"
            )));
        }
        Ok(resolved)
    }
}

fn not_found(path: &str, error: &std::io::Error) -> ToolFailure {
    ToolFailure::invalid_arguments(format!("`{path}`: {error}"))
}
