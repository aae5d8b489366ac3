//! Guest (Windows) evidence: DxDiag text reports, `pnputil /enum-devices` and PowerShell
//! `Format-List` output (`Get-PnpDevice`, `Get-CimInstance Win32_PnPEntity` /
//! `Win32_VideoController`), parsed into display settings and devices with problem codes.
//! Formats: reference/signatures.md §6.1–§6.2; problem codes are cfg.h's `CM_PROB_*`.

use crate::bundle::SourceKind;
use super::Evidence;

/// Everything the guest told us.
#[derive(Debug, Clone, Default)]
pub struct Guest {
    pub dxdiag: Vec<DxDiag>,
    /// Devices from every guest source (DxDiag display devices included).
    pub devices: Vec<GuestDevice>,
}

/// One `label: value` line of a guest report.
#[derive(Debug, Clone)]
pub struct Field {
    pub value: String,
    pub source: String,
    pub line_no: usize,
    /// The line as written (trimmed).
    pub line: String,
}

impl Field {
    pub fn evidence(&self) -> Evidence {
        Evidence::new(self.source.clone(), format!("line {}", self.line_no), self.line.clone())
    }
}

/// `120 DPI (125 percent)`; `Using System DPI` (Windows 7) has neither number.
#[derive(Debug, Clone)]
pub struct Dpi {
    pub dpi: Option<u32>,
    pub percent: Option<u32>,
    pub field: Field,
}

impl Dpi {
    fn parse(field: Field) -> Dpi {
        let num_before = |word: &str| -> Option<u32> {
            let i = field.value.find(word)?;
            field.value[..i].split(|c: char| !c.is_ascii_digit()).rfind(|s| !s.is_empty())?.parse().ok()
        };
        let dpi = num_before(" DPI");
        let percent = num_before(" percent").or_else(|| dpi.map(|d| (d * 100 + 48) / 96));
        Dpi { dpi, percent, field }
    }

    /// Scaled above 100 %.
    pub fn is_scaled(&self) -> bool {
        self.percent.is_some_and(|p| p != 100)
    }
}

/// A DxDiag text report (`dxdiag /t`).
#[derive(Debug, Clone, Default)]
pub struct DxDiag {
    pub source: String,
    /// Redacted in bundles (hostname).
    pub machine_name: Option<Field>,
    pub operating_system: Option<Field>,
    pub user_dpi: Option<Dpi>,
    pub system_dpi: Option<Dpi>,
    pub dwm_dpi_scaling: Option<Field>,
    pub displays: Vec<DisplayDevice>,
}

/// A `Display Devices` entry of DxDiag.
#[derive(Debug, Clone, Default)]
pub struct DisplayDevice {
    pub card_name: Option<Field>,
    pub manufacturer: Option<Field>,
    pub device_key: Option<Field>,
    pub device_status: Option<Field>,
    pub device_problem_code: Option<Field>,
    pub driver_problem_code: Option<Field>,
    pub driver_version: Option<Field>,
    pub current_mode: Option<Field>,
}

/// A device as the guest reports it, from any source.
#[derive(Debug, Clone)]
pub struct GuestDevice {
    pub kind: SourceKind,
    pub source: String,
    /// Line of the record's first field.
    pub line_no: usize,
    /// `PCI\VEN_10DE&DEV_1C02&SUBSYS_…\4&…`, or DxDiag's `Enum\PCI\VEN_…`.
    pub instance_id: Option<String>,
    pub name: Option<String>,
    /// `Display`, when the source says.
    pub class: Option<String>,
    /// `Problem`, `Error`, `Started`, `OK`, or DxDiag's status flags.
    pub status: Option<String>,
    /// The Device Manager problem code (43 = `CM_PROB_FAILED_POST_START`), when known.
    pub problem_code: Option<u32>,
    /// DxDiag's `DN_HAS_PROBLEM` flag.
    pub has_problem: bool,
    pub vendor_id: Option<u16>,
    pub device_id: Option<u16>,
    /// The record's lines that say what is wrong (instance ID, name, status, problem).
    pub evidence: Vec<Evidence>,
}

impl GuestDevice {
    /// DxDiag does not reliably show Code 43 (signatures.md §6.1): weak evidence.
    pub fn is_weak_evidence(&self) -> bool {
        self.kind == SourceKind::Dxdiag
    }

    pub fn ids(&self) -> Option<(u16, u16)> {
        Some((self.vendor_id?, self.device_id?))
    }

    /// Windows' generic framebuffer driver (no vendor driver loaded).
    pub fn is_basic_display_adapter(&self) -> bool {
        self.name.as_deref().is_some_and(|n| n.trim().eq_ignore_ascii_case("Microsoft Basic Display Adapter"))
    }
}

impl Guest {
    /// Devices Windows stopped with Code 43 (`CM_PROB_FAILED_POST_START`), strong evidence first.
    /// Each has `ids()` (vendor, device) and `evidence`; for rules such as
    /// `nvidia-vm-detection` that escalate when the guest confirms Code 43.
    pub fn code43_devices(&self) -> Vec<&GuestDevice> {
        let mut v: Vec<&GuestDevice> = self.devices.iter().filter(|d| d.problem_code == Some(43)).collect();
        v.sort_by_key(|d| d.is_weak_evidence());
        v
    }

    /// Whether the guest reports Code 43 for `vendor:device`.
    pub fn has_code43(&self, vendor: u16, device: u16) -> bool {
        self.code43_devices().iter().any(|d| d.ids() == Some((vendor, device)))
    }

    pub fn basic_display_adapters(&self) -> Vec<&GuestDevice> {
        self.devices.iter().filter(|d| d.is_basic_display_adapter()).collect()
    }

    /// Parse one guest source's text into this view.
    pub fn add(&mut self, kind: SourceKind, path: &str, text: &str) {
        match kind {
            SourceKind::Dxdiag => {
                let dx = parse_dxdiag(text, path);
                self.devices.extend(dx.displays.iter().map(|d| display_as_device(d, path)));
                self.dxdiag.push(dx);
            }
            SourceKind::Pnputil => self.devices.extend(parse_records(text, path, kind)),
            SourceKind::Powershell => self.devices.extend(parse_records(text, path, kind)),
            _ => {}
        }
    }
}

/// `label: value` lines, labels trimmed (DxDiag right-aligns them, pnputil pads after the
/// colon, PowerShell pads before it). Lines without such a label yield `None`.
fn split_field(line: &str) -> Option<(&str, &str)> {
    let (label, value) = line.split_once(':')?;
    let label = label.trim();
    let ok = !label.is_empty()
        && label.len() <= 48
        && label.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '&' | '/' | '(' | ')' | '.' | '-' | '_'));
    ok.then(|| (label, value.trim()))
}

fn field(source: &str, line_no: usize, line: &str, value: &str) -> Field {
    Field { value: value.to_string(), source: source.to_string(), line_no, line: line.trim().to_string() }
}

/// `VEN_10DE&DEV_1C02` in an instance ID or DxDiag device key.
pub fn ven_dev(id: &str) -> (Option<u16>, Option<u16>) {
    let upper = id.to_ascii_uppercase();
    let hex_after = |tag: &str| {
        let i = upper.find(tag)? + tag.len();
        u16::from_str_radix(upper.get(i..i + 4)?, 16).ok()
    };
    (hex_after("VEN_"), hex_after("DEV_"))
}

/// `CM_PROB_*` names (cfg.h) to codes, for PowerShell's `Problem` and enum-typed
/// `ConfigManagerErrorCode`.
fn problem_by_name(name: &str) -> Option<u32> {
    const NAMES: &[(&str, u32)] = &[
        ("CM_PROB_NONE", 0),
        ("CM_PROB_NOT_CONFIGURED", 1),
        ("CM_PROB_FAILED_START", 10),
        ("CM_PROB_NORMAL_CONFLICT", 12),
        ("CM_PROB_NEED_RESTART", 14),
        ("CM_PROB_REINSTALL", 18),
        ("CM_PROB_DISABLED", 22),
        ("CM_PROB_FAILED_INSTALL", 28),
        ("CM_PROB_HARDWARE_DISABLED", 29),
        ("CM_PROB_FAILED_ADD", 31),
        ("CM_PROB_FAILED_DRIVER_ENTRY", 37),
        ("CM_PROB_DRIVER_FAILED_LOAD", 39),
        ("CM_PROB_FAILED_POST_START", 43),
        ("CM_PROB_PHANTOM", 45),
        ("CM_PROB_UNSIGNED_DRIVER", 52),
    ];
    let name = name.trim();
    NAMES.iter().find(|(n, _)| name.contains(n)).map(|(_, c)| *c)
}

/// A problem code value: `43 (0x2B) [CM_PROB_FAILED_POST_START]`, `43`, `CM_PROB_…`,
/// `Code 43`; DxDiag's `No Problem` is 0; `Unknown` is none.
fn problem_code(value: &str) -> Option<u32> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("No Problem") {
        return Some(0);
    }
    if let Some(c) = problem_by_name(v) {
        return Some(c);
    }
    let digits: String = v.trim_start_matches("Code").trim().chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

fn parse_dxdiag(text: &str, source: &str) -> DxDiag {
    let mut dx = DxDiag { source: source.to_string(), ..DxDiag::default() };
    let mut section = String::new();
    let mut prev_dashes = false;
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    for (i, raw) in lines.iter().enumerate() {
        let line_no = i + 1;
        let t = raw.trim();
        let is_dashes = t.len() >= 3 && t.chars().all(|c| c == '-');
        // A section title is framed by dash lines: ---- / Title / ----.
        if prev_dashes && !t.is_empty() && !is_dashes && lines.get(i + 1).is_some_and(|n| n.trim().starts_with("---")) {
            section = t.to_string();
            prev_dashes = false;
            continue;
        }
        prev_dashes = is_dashes;
        let Some((label, value)) = split_field(raw) else { continue };
        let f = || field(source, line_no, raw, value);
        match section.as_str() {
            "System Information" => match label {
                "Machine name" => dx.machine_name = Some(f()),
                "Operating System" => dx.operating_system = Some(f()),
                "User DPI Setting" => dx.user_dpi = Some(Dpi::parse(f())),
                "System DPI Setting" => dx.system_dpi = Some(Dpi::parse(f())),
                "DWM DPI Scaling" => dx.dwm_dpi_scaling = Some(f()),
                _ => {}
            },
            "Display Devices" => {
                if label == "Card name" {
                    dx.displays.push(DisplayDevice::default());
                }
                let Some(d) = dx.displays.last_mut() else { continue };
                let slot = match label {
                    "Card name" => &mut d.card_name,
                    "Manufacturer" => &mut d.manufacturer,
                    "Device Key" => &mut d.device_key,
                    "Device Status" => &mut d.device_status,
                    "Device Problem Code" => &mut d.device_problem_code,
                    "Driver Problem Code" => &mut d.driver_problem_code,
                    "Driver Version" => &mut d.driver_version,
                    "Current Mode" => &mut d.current_mode,
                    _ => continue,
                };
                // Component Drivers repeat `Driver Version`; the first one is the display driver's.
                if slot.is_none() {
                    *slot = Some(f());
                }
            }
            _ => {}
        }
    }
    dx
}

fn display_as_device(d: &DisplayDevice, source: &str) -> GuestDevice {
    let key = d.device_key.as_ref().map(|f| f.value.clone());
    let (vendor_id, device_id) = key.as_deref().map(ven_dev).unwrap_or((None, None));
    let status = d.device_status.as_ref().map(|f| f.value.clone());
    let has_problem = status.as_deref().is_some_and(|s| s.contains("DN_HAS_PROBLEM"));
    let problem_code = d.device_problem_code.as_ref().and_then(|f| problem_code(&f.value));
    let evidence = [&d.card_name, &d.device_key, &d.device_status, &d.device_problem_code]
        .into_iter()
        .flatten()
        .map(Field::evidence)
        .collect();
    GuestDevice {
        kind: SourceKind::Dxdiag,
        source: source.to_string(),
        line_no: d.card_name.as_ref().map(|f| f.line_no).unwrap_or(0),
        instance_id: key,
        name: d.card_name.as_ref().map(|f| f.value.clone()),
        class: Some("Display".into()),
        status,
        problem_code,
        has_problem,
        vendor_id,
        device_id,
        evidence,
    }
}

/// Blank-line separated `label: value` records (pnputil `/enum-devices`, PowerShell
/// `Format-List`). A record becomes a device when it has an instance ID.
fn parse_records(text: &str, source: &str, kind: SourceKind) -> Vec<GuestDevice> {
    let mut out = Vec::new();
    let mut record: Vec<(usize, &str, &str, &str)> = Vec::new();
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    for (i, raw) in lines.iter().enumerate() {
        if raw.trim().is_empty() {
            out.extend(record_to_device(&record, source, kind));
            record.clear();
            continue;
        }
        // pnputil starts each record with `Instance ID:`, even without a blank line before it.
        if let Some((label, value)) = split_field(raw) {
            if label == "Instance ID" && record.iter().any(|(_, l, _, _)| *l == "Instance ID") {
                out.extend(record_to_device(&record, source, kind));
                record.clear();
            }
            record.push((i + 1, label, value, raw));
        }
    }
    out.extend(record_to_device(&record, source, kind));
    out
}

fn record_to_device(record: &[(usize, &str, &str, &str)], source: &str, kind: SourceKind) -> Option<GuestDevice> {
    // The first label of `labels` present wins (Win32_VideoController's `DeviceID` is
    // `VideoController1`; its `PNPDeviceID` is the instance ID).
    let get = |labels: &[&str]| labels.iter().find_map(|want| record.iter().find(|(_, l, v, _)| l == want && !v.is_empty()));
    let id = get(&["Instance ID", "InstanceId", "PNPDeviceID", "DeviceID"]).filter(|r| r.2.contains('\\'))?;
    let name = get(&["Device Description", "FriendlyName", "Name", "Caption"]);
    let class = get(&["Class Name", "Class", "PNPClass"]);
    let status = get(&["Status"]);
    let problem = get(&["Problem Code", "ConfigManagerErrorCode", "Problem"]);
    let (vendor_id, device_id) = ven_dev(id.2);
    let problem_code = problem.and_then(|p| problem_code(p.2));
    let evidence = [Some(id), name, status, problem]
        .into_iter()
        .flatten()
        .map(|(n, _, _, raw)| Evidence::new(source, format!("line {n}"), raw.trim()))
        .collect();
    Some(GuestDevice {
        kind,
        source: source.to_string(),
        line_no: record.first().map(|r| r.0).unwrap_or(0),
        instance_id: Some(id.2.to_string()),
        name: name.map(|n| n.2.to_string()),
        class: class.map(|c| c.2.to_string()),
        status: status.map(|s| s.2.to_string()),
        problem_code,
        has_problem: problem_code.is_some_and(|c| c != 0),
        vendor_id,
        device_id,
        evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pnputil_record_with_code_43() {
        let text = "Microsoft PnP Utility\r\n\r\nInstance ID:                PCI\\VEN_10DE&DEV_1C02&SUBSYS_11C210DE&REV_A1\\4&2f1b4c1a&0&0028\r\nDevice Description:         NVIDIA GeForce GTX 1060 3GB\r\nClass Name:                 Display\r\nStatus:                     Problem\r\nProblem Code:               43 (0x2B) [CM_PROB_FAILED_POST_START]\r\n";
        let mut g = Guest::default();
        g.add(SourceKind::Pnputil, "pnputil.txt", text);
        let c = g.code43_devices();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].ids(), Some((0x10de, 0x1c02)));
        assert_eq!(c[0].evidence.len(), 4);
    }

    #[test]
    fn powershell_problem_names_and_numbers() {
        assert_eq!(problem_code("CM_PROB_FAILED_POST_START"), Some(43));
        assert_eq!(problem_code("43"), Some(43));
        assert_eq!(problem_code("No Problem"), Some(0));
        assert_eq!(problem_code("Unknown"), None);
    }

    #[test]
    fn dpi_values() {
        let f = |v: &str| Field { value: v.into(), source: String::new(), line_no: 1, line: String::new() };
        let d = Dpi::parse(f("120 DPI (125 percent)"));
        assert_eq!((d.dpi, d.percent), (Some(120), Some(125)));
        assert!(!Dpi::parse(f("96 DPI (100 percent)")).is_scaled());
        assert_eq!(Dpi::parse(f("Using System DPI")).percent, None);
        assert_eq!(Dpi::parse(f("144 DPI")).percent, Some(150));
    }
}
