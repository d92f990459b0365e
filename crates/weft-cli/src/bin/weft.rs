//! The `weft` command; everything it does lives in this crate's library.

/// mimalloc: the engine allocates many small, short-lived values per step, where it is
/// markedly faster than the system allocator (see `cargo bench --bench engine`). Built
/// without transparent huge pages (`no_thp`): a daemon's heap grows in 2 MiB pages that the
/// kernel zeroes on first touch, which stalled requests for little gain (`weft bench serve`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    weft_cli::main()
}
