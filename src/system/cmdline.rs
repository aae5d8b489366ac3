//! The kernel command line as options: `intel_iommu=on iommu=pt vfio-pci.ids=10de:1c02,10de:10f1`.

use super::Evidence;

#[derive(Debug, Clone)]
pub struct Cmdline {
    pub raw: String,
    /// Where it came from (`proc/cmdline`).
    pub path: String,
    /// Options in order; a bare flag has no value. Quotes are removed.
    pub options: Vec<(String, Option<String>)>,
}

impl Cmdline {
    pub fn parse(text: &str, path: &str) -> Cmdline {
        let raw = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        let mut options = Vec::new();
        let mut rest = raw.as_str();
        while !rest.is_empty() {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            // A token ends at whitespace outside double quotes (kernel/params.c next_arg()).
            let mut in_quote = false;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                if c == '"' {
                    in_quote = !in_quote;
                } else if c.is_whitespace() && !in_quote {
                    end = i;
                    break;
                }
            }
            let token = &rest[..end];
            rest = &rest[end..];
            if token == "--" {
                break; // what follows goes to init, not the kernel
            }
            let (key, value) = match token.split_once('=') {
                Some((k, v)) => (k.replace('"', ""), Some(v.replace('"', ""))),
                None => (token.replace('"', ""), None),
            };
            options.push((key, value));
        }
        Cmdline { raw, path: path.to_string(), options }
    }

    /// The value of the last occurrence of `key` (the kernel takes the last one).
    /// `vfio-pci.ids` and `vfio_pci.ids` are the same parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        let want = normalise(key);
        self.options.iter().rev().find(|(k, _)| normalise(k) == want).map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Every value given for `key`, e.g. all `video=` options.
    pub fn all(&self, key: &str) -> Vec<&str> {
        let want = normalise(key);
        self.options.iter().filter(|(k, _)| normalise(k) == want).map(|(_, v)| v.as_deref().unwrap_or("")).collect()
    }

    pub fn evidence(&self, option: &str) -> Evidence {
        Evidence::new(format!("/{}", self.path.trim_start_matches('/')), "line 1", option)
    }
}

/// Module parameters accept `-` and `_` interchangeably in the module name.
fn normalise(key: &str) -> String {
    match key.split_once('.') {
        Some((module, param)) => format!("{}.{}", module.replace('-', "_"), param),
        None => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_module_params() {
        let c = Cmdline::parse(
            "BOOT_IMAGE=/vmlinuz-6.8.0 root=UUID=abc ro quiet amd_iommu=on iommu=pt vfio-pci.ids=10de:1c02,10de:10f1 video=efifb:off acpi_osi=\"Windows 2015\" -- single\n",
            "proc/cmdline",
        );
        assert_eq!(c.get("iommu"), Some("pt"));
        assert_eq!(c.get("vfio_pci.ids"), Some("10de:1c02,10de:10f1"));
        assert_eq!(c.get("quiet"), Some(""));
        assert_eq!(c.get("acpi_osi"), Some("Windows 2015"));
        assert!(!c.has("single"));
        assert_eq!(c.all("video"), vec!["efifb:off"]);
    }
}
