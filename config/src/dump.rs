//! `dump`: a configuration written back in HAProxy syntax, every proxy fully expanded.
pub fn dump(_c: &crate::Config) -> String {
    String::new()
}
