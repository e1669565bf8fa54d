//! Named failure points for crash tests: `WRIT_FAILPOINTS=name,name` makes the process
//! abort (no unwinding, no destructors — as close to a power cut as a test can get)
//! the first time it reaches one of the named points. Unset, a point costs one load of
//! an already-initialised `OnceLock`.

use std::sync::OnceLock;

fn armed() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("WRIT_FAILPOINTS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Aborts the process if the failure point `name` is armed.
pub fn hit(name: &str) {
    if armed().iter().any(|a| a == name) {
        eprintln!("writ: failure point `{name}` reached: aborting");
        std::process::abort();
    }
}
