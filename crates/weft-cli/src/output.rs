//! Standard output. A reader that goes away before the command is done (`weft runs events
//! ID | head`) ends the command quietly with status 141, as a Unix tool that SIGPIPE ends,
//! rather than with a panic (Rust ignores SIGPIPE, so the write fails instead).

use std::fmt::Arguments;
use std::io::{ErrorKind, Write};

/// The status of a command whose output's reader went away: 128 + SIGPIPE, what shells
/// report for a process that signal ended.
pub(crate) const BROKEN_PIPE: i32 = 141;

/// Writes a line to standard output (what `println!` does, without its panic).
macro_rules! say {
    () => {
        $crate::output::write(format_args!(""), true)
    };
    ($($argument:tt)*) => {
        $crate::output::write(format_args!($($argument)*), true)
    };
}

/// Writes text to standard output without ending the line (`print!`, without its panic).
macro_rules! say_partial {
    ($($argument:tt)*) => {
        $crate::output::write(format_args!($($argument)*), false)
    };
}

/// Writes `arguments` (and a line break) to standard output; when that fails, ends the
/// process: quietly when the reader went away, else saying why.
pub(crate) fn write(arguments: Arguments<'_>, line: bool) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(arguments).and_then(|()| {
        if line {
            stdout.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(error) = written {
        if error.kind() == ErrorKind::BrokenPipe {
            std::process::exit(BROKEN_PIPE);
        }
        eprintln!("error: cannot write the output: {error}");
        std::process::exit(1);
    }
}
