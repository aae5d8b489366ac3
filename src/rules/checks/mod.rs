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

/// The failure messages a logic rule declares (`FAILURE_SIGNATURES` in its file), by its name:
/// lines that alone are a sign of its fault.
pub(crate) fn failures(name: &str) -> &'static [&'static str] {
    FAILURES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).unwrap_or(&[])
}

pub(crate) fn names() -> Vec<&'static str> {
    CHECKS.iter().map(|(n, _)| *n).collect()
}

/// Whether a long log keeps `line` (a whole line as the log prints it, stamp included) for a
/// rule that declares `signatures`: the prefilter finds one of its literals in the line, and a
/// signature matches. Each logic rule's tests run it on the lines its check reads.
#[cfg(test)]
pub(crate) fn keeps(signatures: &[&str], line: &str) -> bool {
    let set = crate::signatures::SignatureSet::new(signatures);
    let raw = line.as_bytes();
    set.next_candidate(raw).is_some() && set.matches(raw, crate::collect::strip_stamp(raw))
}

/// Whether one of `signatures` is `literal` written as a regex (matching exactly it): ties a
/// literal a check looks for with `contains` to its signature.
#[cfg(test)]
pub(crate) fn declares(signatures: &[&str], literal: &str) -> bool {
    signatures.iter().any(|s| regex::Regex::new(&format!("^(?:{s})$")).is_ok_and(|r| r.is_match(literal)))
}
