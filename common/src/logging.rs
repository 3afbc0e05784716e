//! Logging setup: tracing to stderr, `RUST_LOG` wins, default `info`; panics
//! are logged through it too.

/// Installs the global subscriber and the panic hook (once; later calls do
/// nothing).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init()
        .is_ok();
    if installed {
        // Where a panic happened, in the same log as everything else; the
        // server loop answers the request it broke with a 500 and goes on.
        std::panic::set_hook(Box::new(|info| {
            tracing::error!(
                thread = std::thread::current().name().unwrap_or("?"),
                "{info}"
            );
        }));
    }
}
