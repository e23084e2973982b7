use clap::Parser;

fn main() -> anyhow::Result<()> {
    single_threaded_openmp();
    let cli = scriptorium::cli::Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(scriptorium::cli::run(cli))
}

/// Tesseract must not start an OpenMP team per page: the OCR pool already
/// runs one engine per core, and competing teams made pages 4x slower here.
/// libgomp reads `OMP_THREAD_LIMIT` when it is loaded, before `main`, so when
/// the variable is missing the process sets it and executes itself again.
fn single_threaded_openmp() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("OMP_THREAD_LIMIT").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("OMP_THREAD_LIMIT", "1")
        .exec();
    // Only reached when exec failed: carry on with OpenMP's defaults.
    eprintln!("warning: could not restart with OMP_THREAD_LIMIT=1: {err}");
}
