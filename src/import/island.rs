//! Runs of recognisable lines inside an unrecognised paste (a forum post or blog article that
//! quotes a group listing, a few kernel lines, a QEMU error between paragraphs of prose) are
//! lifted out as sources of their own; the prose that remains is scanned as generic text.

use crate::bundle::SourceKind;
use crate::import::sniff;

/// One run of lines of one kind, with its 1-based line range in the text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Island {
    pub kind: SourceKind,
    pub first_line: usize,
    pub last_line: usize,
    pub text: String,
}

/// The islands of `text`, and the text with their lines blanked (line numbers kept).
pub fn split(text: &str) -> (Vec<Island>, String) {
    let lines: Vec<&str> = text.lines().collect();
    let mut taken = vec![false; lines.len()];
    let mut islands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        // A domain's XML runs from `<domain …>` to `</domain>`.
        if lines[i].trim_start().starts_with("<domain") {
            if let Some(end) = lines[i..].iter().position(|l| l.trim_end().ends_with("</domain>")) {
                islands.push(take(&lines, &mut taken, SourceKind::DomainXml, i, i + end));
                i += end + 1;
                continue;
            }
            // Cut short (no `</domain>`): the run of XML lines, `...` elisions included, is read
            // as far as it goes.
            let xmlish = |l: &str| {
                let t = l.trim();
                t.starts_with('<') || matches!(t, "..." | "…" | "[...]")
            };
            let end = lines[i..].iter().take_while(|l| xmlish(l)).count();
            if end >= 3 {
                islands.push(take(&lines, &mut taken, SourceKind::DomainXml, i, i + end - 1));
                i += end;
                continue;
            }
        }
        let Some(kind) = sniff::line_kind(lines[i]) else {
            i += 1;
            continue;
        };
        let mut end = i;
        let mut j = i + 1;
        while j < lines.len() {
            let line = lines[j];
            let same = sniff::line_kind(line) == Some(kind)
                // lspci property lines and the group scripts' indented device lines
                || (matches!(kind, SourceKind::Lspci | SourceKind::IommuScript)
                    && (line.starts_with(char::is_whitespace) && !line.trim().is_empty() || sniff::lspci_property(line) || sniff::lspci_header(line.trim_start())))
                || (kind == SourceKind::IommuScript && sniff::iommu_usb_line(line.trim_start()));
            if same {
                end = j;
                j += 1;
            } else if kind == SourceKind::HookTrace && !line.trim().is_empty() && trace_output(&lines[j..]) {
                // What a traced command printed (`modprobe: FATAL: Module nvidia_drm is in use.`).
                end = j;
                j += 1;
            } else if (line.trim().is_empty() || kind == SourceKind::QemuLog)
                && j + 1 < lines.len()
                && sniff::line_kind(lines[j + 1]) == Some(kind)
            {
                // A blank line inside a run; for QEMU also an error hint, which QEMU prints on
                // the next line with no prefix (util/error-report.c error_append_hint).
                j += 1;
            } else {
                break;
            }
        }
        islands.push(take(&lines, &mut taken, kind, i, end));
        i = end + 1;
    }
    let mut rest = String::with_capacity(text.len());
    for (line, t) in lines.iter().zip(&taken) {
        if !t {
            rest.push_str(line);
        }
        rest.push('\n');
    }
    (islands, rest)
}

/// Whether `rest[0]` is output inside a `set -x` trace: another trace line follows within three
/// lines, or the line reads as an error.
fn trace_output(rest: &[&str]) -> bool {
    let l = rest[0];
    let error = ["FATAL", "ERROR", "error:", "Error", "Failed", "failed", "No such", "in use", "not loaded", "Permission denied", "Device or resource busy"]
        .iter()
        .any(|e| l.contains(e));
    error || rest.iter().skip(1).take(3).any(|x| sniff::line_kind(x) == Some(SourceKind::HookTrace))
}

fn take(lines: &[&str], taken: &mut [bool], kind: SourceKind, from: usize, to: usize) -> Island {
    let mut text = String::new();
    for (line, t) in lines[from..=to].iter().zip(&mut taken[from..=to]) {
        text.push_str(line);
        text.push('\n');
        *t = true;
    }
    Island { kind, first_line: from + 1, last_line: to + 1, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifts_runs_out_of_prose() {
        let t = "我的 IOMMU 分布:\nGroup:  15  0000:04:00.0 VGA compatible controller [0300]: AMD [1002:67ff] (rev ff)   Driver: amdgpu\nGroup:  16  0000:08:00.0 VGA compatible controller [0300]: NVIDIA [10de:1c02] (rev a1)   Driver: vfio-pci\n可知:\n2022-07-21T06:50:56.222055Z qemu-system-x86_64: vfio_region_write(0000:08:00.0:region1+0x345990, 0x13801,8) failed: Device or resource busy\n然后\n";
        let (islands, rest) = split(t);
        assert_eq!(islands.iter().map(|i| (i.kind, i.first_line, i.last_line)).collect::<Vec<_>>(), vec![(SourceKind::IommuScript, 2, 3), (SourceKind::QemuLog, 5, 5)]);
        assert_eq!(rest, "我的 IOMMU 分布:\n\n\n可知:\n\n然后\n");
        let seed = "error: Failed to start domain 'win10'\nerror: internal error: qemu unexpectedly closed the monitor: 2023-05-25T06:28:54.441761Z qemu-system-x86_64: warning: This family of AMD CPU doesn't support hyperthreading(2)\nPlease configure -smp options properly or try enabling topoext feature.\n2023-05-25T06:28:55.270270Z qemu-system-x86_64: -device vfio-pci,host=0000:0a:00.0: vfio_listener_region_add received unaligned region\n发现\n";
        let (islands, _) = split(seed);
        assert_eq!(islands.iter().map(|i| (i.kind, i.first_line, i.last_line)).collect::<Vec<_>>(), vec![(SourceKind::QemuLog, 1, 4)]);
        // A domain XML cut short inside prose: its XML lines, up to the prose after it.
        let cut = "my config:\n<domain type='kvm'>\n  <name>win10</name>\n  ...\n  <devices>\n    <hostdev mode='subsystem' type='pci'>\nany ideas?\n";
        let (islands, _) = split(cut);
        assert_eq!(islands.iter().map(|i| (i.kind, i.first_line, i.last_line)).collect::<Vec<_>>(), vec![(SourceKind::DomainXml, 2, 6)]);
    }
}
