//! /proc/iomem, parsed: the physical memory map as ranges with their owner's name, nesting and
//! line, so a rule can tell that a boot framebuffer (`BOOTFB`, `efifb`, `simpledrm`…) sits
//! inside a GPU's BAR.

use super::pci::PciAddress;

/// One line of /proc/iomem: `  d0000000-dfffffff : 0000:08:00.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub name: String,
    /// Nesting level (two spaces per level in the file).
    pub depth: usize,
    /// 1-based line in the source.
    pub line: usize,
    /// The line as written, for evidence.
    pub text: String,
}

/// The memory map of one source.
#[derive(Debug, Clone, Default)]
pub struct Iomem {
    pub path: String,
    pub regions: Vec<Region>,
}

/// Resource names the boot framebuffer goes by, by kernel era (reference §9): the sysfb
/// resource, and the drivers that bind to it.
const FRAMEBUFFERS: &[&str] = &["BOOTFB", "efifb", "simplefb", "simpledrm", "vesafb", "vesa-framebuffer", "efi-framebuffer"];

impl Iomem {
    /// Parse `/proc/iomem` text. Lines that are not `START-END : NAME` are skipped (a paste may
    /// carry a prompt); all-zero maps (read without root) hold no usable ranges.
    pub fn parse(text: &str, path: &str) -> Iomem {
        let mut regions = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let trimmed = raw.trim_start();
            let depth = (raw.len() - trimmed.len()) / 2;
            let Some((range, name)) = trimmed.split_once(" : ") else { continue };
            let Some((a, b)) = range.trim().split_once('-') else { continue };
            let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else { continue };
            if end < start || (start == 0 && end == 0) {
                continue;
            }
            regions.push(Region { start, end, name: name.trim().to_string(), depth, line: i + 1, text: raw.trim_end().to_string() });
        }
        Iomem { path: path.to_string(), regions }
    }

    /// Boot-framebuffer regions inside a range the map gives to `device` (one of its BARs),
    /// each with the device's own region line.
    pub fn framebuffers_in(&self, device: &PciAddress) -> Vec<(&Region, &Region)> {
        let bars: Vec<&Region> = self.regions.iter().filter(|r| r.name == device.as_str()).collect();
        let mut out = Vec::new();
        for fb in self.regions.iter().filter(|r| FRAMEBUFFERS.contains(&r.name.as_str())) {
            if let Some(bar) = bars.iter().find(|b| b.start <= fb.start && fb.end <= b.end) {
                // The framebuffer's own driver nests inside BOOTFB: report the outermost one.
                let nested_in_other_fb = self
                    .regions
                    .iter()
                    .any(|o| !std::ptr::eq(o, fb) && FRAMEBUFFERS.contains(&o.name.as_str()) && o.start <= fb.start && fb.end <= o.end && o.depth < fb.depth);
                if !nested_in_other_fb {
                    out.push((*bar, fb));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // talos#14356 (kernel 6.18), as the reference quotes it, inside a fuller map.
    const MAP: &str = "\
00000000-00000fff : Reserved
2800000000-2fffffffff : PCI Bus 0000:c3
  2800000000-2fffffffff : 0000:c3:00.0
    2800000000-2801fa3fff : BOOTFB
      2800000000-2801fa3fff : simpledrm
  3000000000-3001ffffff : 0000:c3:00.0
fc000000-fc07ffff : 0000:05:00.0
";

    #[test]
    fn finds_the_boot_framebuffer_inside_the_bar() {
        let map = Iomem::parse(MAP, "/proc/iomem");
        let addr = PciAddress::parse("0000:c3:00.0").expect("address");
        let hits = map.framebuffers_in(&addr);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].1.name, "BOOTFB");
        assert_eq!(hits[0].1.line, 4);
        assert_eq!(hits[0].0.line, 3);
        let other = PciAddress::parse("0000:05:00.0").expect("address");
        assert!(map.framebuffers_in(&other).is_empty());
    }

    #[test]
    fn zeroed_map_without_root_has_no_ranges() {
        let map = Iomem::parse("00000000-00000000 : System RAM\n  00000000-00000000 : BOOTFB\n", "/proc/iomem");
        assert!(map.regions.is_empty());
    }
}
