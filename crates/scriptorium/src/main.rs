use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = scriptorium::cli::Cli::parse();
    // Tesseract must not start an OpenMP team per engine: the engine pool
    // already runs one engine per core. Set before any thread exists.
    if std::env::var_os("OMP_THREAD_LIMIT").is_none() {
        std::env::set_var("OMP_THREAD_LIMIT", "1");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(scriptorium::cli::run(cli))
}
