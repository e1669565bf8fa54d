//! What the benchmarks share: this process's memory as Linux reports it, and numeric
//! settings from the environment.

/// `VmHWM` and `VmRSS` of this process, in MiB.
pub fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (
        status_field(&status, "VmHWM:"),
        status_field(&status, "VmRSS:"),
    )
}

/// One `/proc/self/status` field (`VmRSS:`, …) in MiB.
pub fn status_field(status: &str, key: &str) -> f64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Resets `VmHWM` to the current RSS (Linux `clear_refs` 5), so the next reading is
/// the peak of what follows; `false` when the kernel refuses.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A number from the environment, or `default` when unset or not a number.
pub fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
