use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = sluice::cli::Cli::parse();
    // The main runtime only accepts connections, serves the admin API and handles signals;
    // sessions run on the thread-per-core workers (sluice_core::workers).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(sluice::cli::run(cli))
}
