//! Logic rules: one file per rule, named after it (`iommu-disabled` → `iommu_disabled.rs`),
//! each with `pub(crate) fn check(sys: &System, out: &mut Findings)`. `build.rs` discovers the
//! files and generates the module list and the name → function table included here, so adding
//! a rule touches no other file.

include!(concat!(env!("OUT_DIR"), "/checks.rs"));

/// The check function of a rule, by its kebab-case name.
pub(crate) fn find(name: &str) -> Option<super::CheckFn> {
    CHECKS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The log signatures a logic rule declares (`LOG_SIGNATURES` in its file), by its name.
pub(crate) fn signatures(name: &str) -> &'static [&'static str] {
    SIGNATURES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).unwrap_or(&[])
}

pub(crate) fn names() -> Vec<&'static str> {
    CHECKS.iter().map(|(n, _)| *n).collect()
}
