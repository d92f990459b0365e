//! Running a program for a tool: arguments without a shell, input written while output is
//! read, output capped, and the program's whole process group killed if the call ends
//! early (a timeout, a cancelled run).

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A program to run.
#[derive(Debug)]
pub(crate) struct Program<'a> {
    pub program: &'a str,
    pub arguments: &'a [String],
    /// Environment variables set for it.
    pub environment: &'a [(&'a str, String)],
    /// Whether it sees only `environment` (and `PATH`, `HOME`, `LANG`), not weft's own.
    pub clear_environment: bool,
    pub folder: Option<&'a Path>,
    /// Written to its standard input, which is then closed.
    pub input: Vec<u8>,
    /// The most bytes kept of standard output and of standard error, each.
    pub max_output: u64,
}

/// What a finished program left.
#[derive(Debug)]
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Whether standard output went on past `max_output` bytes.
    pub stdout_truncated: bool,
    /// Whether standard error did.
    pub stderr_truncated: bool,
}

/// Why a program could not be run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProgramError {
    #[error("cannot start `{program}`: {source}")]
    Start {
        program: String,
        source: std::io::Error,
    },
    #[error("its output could not be captured")]
    Pipes,
    #[error("reading its output: {0}")]
    Read(std::io::Error),
    #[error("waiting for it: {0}")]
    Wait(std::io::Error),
}

/// Runs `program` to its end. Dropping the future kills the program's process group.
pub(crate) async fn run(program: Program<'_>) -> Result<Finished, ProgramError> {
    let mut command = tokio::process::Command::new(program.program);
    command.args(program.arguments);
    if program.clear_environment {
        command.env_clear();
        for name in ["PATH", "HOME", "LANG"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
    }
    for (name, value) in program.environment {
        command.env(name, value);
    }
    if let Some(folder) = program.folder {
        command.current_dir(folder);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ProgramError::Start {
            program: program.program.to_owned(),
            source,
        })?;
    let group = ProcessGroup(child.id());
    let stdin = child.stdin.take();
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(ProgramError::Pipes);
    };
    let input = program.input;
    // Input is written while output is read: a program that prints before it has read
    // everything must not wait on a full pipe while weft waits on it.
    let write = async move {
        if let Some(mut stdin) = stdin {
            // A program that does not read its input may close it: that is its business.
            let _ = stdin.write_all(&input).await;
            // Dropping it closes the pipe, so a program reading to the end finishes.
        }
    };
    let limit = program.max_output;
    let (read_out, read_err) = (read_capped(out, limit), read_capped(err, limit));
    let ((), read_out, read_err) = tokio::join!(write, read_out, read_err);
    let (stdout, stdout_truncated) = read_out.map_err(ProgramError::Read)?;
    let (stderr, stderr_truncated) = read_err.unwrap_or_default();
    let status = child.wait().await.map_err(ProgramError::Wait)?;
    group.finished();
    Ok(Finished {
        status,
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
    })
}

/// Reads a stream to its end, keeping the first `limit` bytes; the rest is read and
/// dropped, so the program is never blocked on a full pipe.
async fn read_capped(
    mut stream: impl tokio::io::AsyncRead + Unpin,
    limit: u64,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut kept = Vec::new();
    (&mut stream).take(limit).read_to_end(&mut kept).await?;
    let mut truncated = false;
    let mut rest = [0u8; 8192];
    loop {
        let read = stream.read(&mut rest).await?;
        if read == 0 {
            return Ok((kept, truncated));
        }
        truncated = true;
    }
}

/// A running program's process group, killed when dropped before the program finished.
struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    fn finished(mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(id) = self.0.and_then(|id| i32::try_from(id).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(id),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
