//! Loading a bundle: refuses non-bundles and newer versions with one clear line; ignores
//! unknown fields so that a bundle from a newer minor release still loads.

use std::path::Path;

use super::{Bundle, FORMAT, VERSION};
use crate::root::read_capped;
use crate::Error;

/// A bundle larger than this is not something we wrote.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;

pub fn load(path: &Path) -> Result<Bundle, Error> {
    let read = read_capped(path, MAX_BUNDLE_BYTES).map_err(|e| Error::bundle(path, format!("cannot read: {e}")))?;
    if read.capped {
        return Err(Error::bundle(path, format!("larger than {} MiB: not a vfio-doctor bundle", MAX_BUNDLE_BYTES >> 20)));
    }
    let text = std::str::from_utf8(&read.bytes).map_err(|_| Error::bundle(path, "not a vfio-doctor bundle (not UTF-8 text)"))?;
    load_str(text).map_err(|problem| Error::bundle(path, problem))
}

/// Parse bundle JSON; the error is the problem without the path.
pub fn load_str(text: &str) -> Result<Bundle, String> {
    // Look at the envelope first, so a non-bundle gets "not a bundle", not a serde field error.
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a vfio-doctor bundle (invalid JSON: {e})"))?;
    let Some(obj) = value.as_object() else {
        return Err("not a vfio-doctor bundle (JSON is not an object)".into());
    };
    match obj.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => return Err(format!("not a vfio-doctor bundle (format is \"{other}\")")),
        None => return Err("not a vfio-doctor bundle (no \"format\" field)".into()),
    }
    let version = obj
        .get("version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| "bundle has no integer \"version\"".to_string())?;
    if version > u64::from(VERSION) {
        return Err(format!(
            "bundle version {version} is newer than this vfio-doctor understands (up to {VERSION}); upgrade vfio-doctor"
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("damaged bundle: {e}"))
}
