//! `diff`
pub enum Change {}
pub fn diff(_a: &crate::Config, _b: &crate::Config) -> Vec<Change> {
    Vec::new()
}
