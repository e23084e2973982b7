use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = scriptorium::cli::Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(scriptorium::cli::run(cli))
}
