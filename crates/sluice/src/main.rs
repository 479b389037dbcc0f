use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = sluice::cli::Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // One line a person can act on, with its causes; never a backtrace, whatever
        // RUST_BACKTRACE says: a command's failure is not a bug report.
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: sluice::cli::Cli) -> anyhow::Result<()> {
    // The main runtime only accepts connections, serves the admin API and handles signals;
    // sessions run on the thread-per-core workers (sluice_core::workers).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(sluice::cli::run(cli))
}
