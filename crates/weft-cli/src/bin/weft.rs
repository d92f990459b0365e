//! The `weft` command; everything it does lives in this crate's library.

/// mimalloc: the engine allocates many small, short-lived values per step, where it is
/// markedly faster than the system allocator (see `cargo bench --bench engine`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    weft_cli::main()
}
