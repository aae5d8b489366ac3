//! Evidence: where a fact was seen (a file or sysfs path, the line or attribute, the text). The
//! System's parsers attach it to the facts they read, and rules cite it in findings, so it lives
//! here, below both (re-exported as `crate::rules::Evidence`).

use serde::{Deserialize, Serialize};

use super::LogLine;

/// Where a fact was seen: the file or sysfs path, the line or attribute, and the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub source: String,
    pub location: String,
    pub excerpt: String,
    /// How many times this excerpt (or lines like it) occurred, when more than once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

impl Evidence {
    pub fn new(source: impl Into<String>, location: impl Into<String>, excerpt: impl Into<String>) -> Evidence {
        Evidence { source: source.into(), location: location.into(), excerpt: excerpt.into(), count: None }
    }
}

impl From<&LogLine> for Evidence {
    fn from(line: &LogLine) -> Evidence {
        let mut e = Evidence::new(line.source.to_string(), format!("line {}", line.line_no), line.text.clone());
        // A folded line stands for all its occurrences.
        e.count = (line.count > 1).then_some(line.count);
        e
    }
}
