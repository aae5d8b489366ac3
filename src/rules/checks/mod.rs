//! Logic rules: one file per rule, named after it (`iommu-disabled` → `iommu_disabled.rs`),
//! each with `pub(crate) fn check(sys: &System, out: &mut Findings)`. `build.rs` discovers the
//! files and generates the module list and the name → function table included here, so adding
//! a rule touches no other file.

include!(concat!(env!("OUT_DIR"), "/checks.rs"));

/// The check function of a rule, by its kebab-case name.
pub(crate) fn find(name: &str) -> Option<super::CheckFn> {
    CHECKS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

pub(crate) fn names() -> Vec<&'static str> {
    CHECKS.iter().map(|(n, _)| *n).collect()
}
