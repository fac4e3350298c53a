//! Fatal conditions stop the whole validator.
//!
//! A validator that keeps serving after one of its parts died is a zombie: a dead persister
//! makes every submission fail, a broken invariant means its state can no longer be trusted.
//! Every panic, on any thread or task, therefore ends the process with exit code
//! [`FATAL_EXIT_CODE`] after one clear log line, instead of unwinding only that thread.

/// Exit code of a validator stopped by a fatal condition.
pub const FATAL_EXIT_CODE: i32 = 101;

/// Makes every panic fatal to the process (see the module docs). Idempotent.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("unnamed");
            tracing::error!(target: "weft::node", thread = name, %info, "fatal: stopping the validator");
            default(info);
            std::process::exit(FATAL_EXIT_CODE);
        }));
    });
}
