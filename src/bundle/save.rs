//! Writing a bundle as pretty JSON.

use std::path::Path;

use super::Bundle;
use crate::Error;

pub fn to_json(bundle: &Bundle) -> String {
    // Serializing plain data with string keys cannot fail.
    serde_json::to_string_pretty(bundle).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

pub fn save(bundle: &Bundle, path: &Path) -> Result<(), Error> {
    let mut json = to_json(bundle);
    json.push('\n');
    std::fs::write(path, json).map_err(|source| Error::Output { path: path.to_path_buf(), source })
}
