//! The `weft` command; everything it does lives in the `weft-cli` crate.

fn main() -> std::process::ExitCode {
    weft_cli::main()
}
