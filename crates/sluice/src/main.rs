use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = sluice::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(sluice::cli::run(cli))
}
