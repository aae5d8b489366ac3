//! What redaction looks for: the contexts that name a host, a user, a serial or a secret
//! (`/home/NAME`, journal and prompt host names, `<serial>`, `passwd='…'`, DxDiag's
//! `Machine name:` …), and the shapes of MAC, IP and UUID values with the checks that tell
//! them from PCI addresses, vendor:device IDs, timestamps and version numbers.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use regex::{Regex, RegexSet};

/// The kinds of identifying values; each has its own placeholder numbering (`host-1`, `mac-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Host,
    User,
    Mac,
    Ip,
    Uuid,
    Serial,
    Secret,
    /// A machine or boot id that is not UUID-shaped (`Machine ID: 3f1c…` of hostnamectl).
    Id,
}

impl Category {
    pub const ALL: [Category; 8] =
        [Category::Host, Category::User, Category::Mac, Category::Ip, Category::Uuid, Category::Serial, Category::Secret, Category::Id];

    /// The placeholder prefix: `host` in `host-1`.
    pub fn prefix(self) -> &'static str {
        match self {
            Category::Host => "host",
            Category::User => "user",
            Category::Mac => "mac",
            Category::Ip => "ip",
            Category::Uuid => "uuid",
            Category::Serial => "serial",
            Category::Secret => "secret",
            Category::Id => "id",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    fn from_prefix(p: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.prefix() == p)
    }
}

/// `host-3` → (Host, 3): a value that is already a placeholder.
pub fn parse_placeholder(value: &str) -> Option<(Category, usize)> {
    let (prefix, n) = value.rsplit_once('-')?;
    let cat = Category::from_prefix(prefix)?;
    if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((cat, n.parse().ok()?))
}

/// Host and user names that identify no one, or that are also words the diagnosis needs
/// (`pve` is in Proxmox kernel versions, `nvidia` is a module): kept as they are.
const GENERIC_NAMES: &[&str] = &[
    "localhost", "localhost.localdomain", "localdomain", "root", "user", "users", "admin", "administrator", "guest",
    "public", "default", "default user", "defaultuser0", "all users", "nobody", "shared", "ubuntu", "debian", "fedora",
    "arch", "archlinux", "manjaro", "endeavouros", "pop-os", "kali", "mint", "nixos", "gentoo", "opensuse", "garuda",
    "cachyos", "pve", "proxmox", "unraid", "tower", "truenas", "host", "hostname", "desktop", "server", "linux",
    "computer", "workstation", "kvm", "qemu", "libvirt", "libvirt-qemu", "kernel", "systemd", "none", "null", "unknown",
    "example", "example.com", "nvidia", "amd", "intel", "radeon", "geforce", "vfio", "pci", "usb", "gpu", "vga", "efi",
    "ovmf", "grub", "docker", "virsh", "home", "test", "dev", "node", "master", "main", "buildd",
];

/// Windows device setup class GUIDs (Display, Media, System, USB, HIDClass, Net, …): the same
/// on every Windows, and what pnputil/PowerShell name a device's class by.
const KEPT_UUIDS: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "4d36e965-e325-11ce-bfc1-08002be10318",
    "4d36e966-e325-11ce-bfc1-08002be10318",
    "4d36e967-e325-11ce-bfc1-08002be10318",
    "4d36e968-e325-11ce-bfc1-08002be10318",
    "4d36e96a-e325-11ce-bfc1-08002be10318",
    "4d36e96b-e325-11ce-bfc1-08002be10318",
    "4d36e96c-e325-11ce-bfc1-08002be10318",
    "4d36e96e-e325-11ce-bfc1-08002be10318",
    "4d36e96f-e325-11ce-bfc1-08002be10318",
    "4d36e972-e325-11ce-bfc1-08002be10318",
    "4d36e978-e325-11ce-bfc1-08002be10318",
    "4d36e979-e325-11ce-bfc1-08002be10318",
    "4d36e97b-e325-11ce-bfc1-08002be10318",
    "4d36e97d-e325-11ce-bfc1-08002be10318",
    "4d36e980-e325-11ce-bfc1-08002be10318",
    "36fc9e60-c465-11cf-8056-444553540000",
    "745a17a0-74d3-11d0-b6fe-00a0c90f57da",
    "50127dc3-0f36-415e-a6cc-4cb3be910b65",
    "62f9c741-b25a-46ce-b54c-9bccce08b6f2",
    "c166523c-fe0c-4a94-a586-f1a80cfbbf3e",
    "71a27cdd-812a-11d0-bec7-08002be2092f",
    "e0cbf06c-cd8b-4647-bb8a-263b43f0f974",
    "f2e7dd72-6468-4e36-b6f1-6488f42c1b52",
    "d94ee5d8-d189-4994-83d2-f68d7d41b0e6",
    "6bdd1fc6-810f-11d0-bec7-08002be2092f",
    "ca3e7ab9-b4c3-4ae6-8251-579ef933890f",
    "5c4c3332-344d-483c-8739-259e934c9cc8",
    "e2f84ce7-8efa-411c-aa69-97454ca4cb57",
    "72631e54-78a4-11d0-bcf7-00aa00b7b32a",
    "5175d334-c371-4806-b3ba-71fd53c9258d",
];

/// Values of `password=` that are switches, not passwords (`-vnc :0,password=on`).
const SWITCH_WORDS: &[&str] = &["on", "off", "yes", "no", "true", "false"];

/// The key under which `value` of `cat` is remembered (so `52-54-00-…` and `52:54:00:…`, or
/// `{5B1E…}` and `5b1e…`, get one placeholder), or `None` when it is not to be replaced.
pub fn normalise(cat: Category, value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() || parse_placeholder(v).is_some() {
        return None;
    }
    match cat {
        Category::Host | Category::User => {
            let lower = v.to_ascii_lowercase();
            (!GENERIC_NAMES.contains(&lower.as_str())).then_some(lower)
        }
        Category::Mac => {
            let lower = v.to_ascii_lowercase().replace('-', ":");
            (lower != "00:00:00:00:00:00" && lower != "ff:ff:ff:ff:ff:ff").then_some(lower)
        }
        Category::Uuid | Category::Id => {
            let lower = v.trim_start_matches('{').trim_end_matches('}').to_ascii_lowercase();
            (!lower.is_empty() && !KEPT_UUIDS.contains(&lower.as_str())).then_some(lower)
        }
        Category::Ip => {
            if let Ok(a) = v.parse::<Ipv4Addr>() {
                let o = a.octets();
                return (!(a.is_unspecified() || a.is_loopback() || o[0] == 255)).then(|| a.to_string());
            }
            let a: Ipv6Addr = v.parse().ok()?;
            // `::ffff:192.168.1.23` is the IPv4 address.
            if let Some(v4) = a.to_ipv4_mapped() {
                return normalise(Category::Ip, &v4.to_string());
            }
            (!(a.is_unspecified() || a.is_loopback())).then(|| a.to_string())
        }
        Category::Secret => (!SWITCH_WORDS.contains(&v.to_ascii_lowercase().as_str())).then(|| v.to_string()),
        Category::Serial => Some(v.to_string()),
    }
}

/// Whether `s` is a UUID (`8-4-4-4-12` hex digits).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// One context that names identifying values, with its named groups and their categories.
pub struct Context {
    pub re: Regex,
    pub groups: &'static [(&'static str, Category)],
}

/// The contexts, and a set of the same patterns that tells in one pass which occur in a text.
pub struct Contexts {
    pub set: RegexSet,
    pub list: Vec<Context>,
}

const CONTEXTS: &[(&str, &[(&str, Category)])] = &[
    // Paths: /home/alice/…, C:\Users\alice\…
    (r"/home/(?P<u>[A-Za-z0-9._-]+)", &[("u", Category::User)]),
    (r"(?i)\b[a-z]:\\+(?:Users|Documents and Settings)\\+(?P<u>[^\\/\s\x22'<>:|*?]+)", &[("u", Category::User)]),
    // Shell prompts: [alice@myhost ~]$, alice@myhost:~$, alice@myhost ~ %, alice@myhost ~>
    (
        r"(?m)^[ \t]*\[?(?P<u>[A-Za-z_][A-Za-z0-9._-]*)@(?P<h>[A-Za-z0-9][A-Za-z0-9._-]*)(?:[: ][^\n$#%>]*)?\]?[$#%>](?:[ \t]|$)",
        &[("u", Category::User), ("h", Category::Host)],
    ),
    // syslog/journal: `Nov 02 10:11:12 myhost kernel: …`, `2024-05-01T18:22:07+0200 myhost kernel: …`
    (
        r"(?m)^(?:[^\s\d\[]{3,6}[ \t]{1,2}\d{1,2}[ \t]\d{2}:\d{2}:\d{2}(?:\.\d+)?|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)[ \t]+(?P<h>[A-Za-z0-9][A-Za-z0-9._-]*)[ \t]+[^\s:\[]+(?:\[\d+\])?:",
        &[("h", Category::Host)],
    ),
    // QEMU log `hostname: myhost`, HOSTNAME=myhost, hostnamectl `Static hostname: myhost`
    (r"(?i)\bhost ?name\b[ \t]*[:=][ \t]*['\x22]?(?P<h>[A-Za-z0-9][A-Za-z0-9._-]*)", &[("h", Category::Host)]),
    // DxDiag, PowerShell/WMI, systeminfo: `Machine name: DESKTOP-7K2Q9LM`, `SystemName : …`
    (
        r"(?mi)^[ \t]*(?:Machine name|Computer ?Name|PSComputerName|SystemName|CSName|__SERVER|DNSHostName|Host Name)[ \t]*:[ \t]*(?P<h>[^\s:]+)[ \t]*\r?$",
        &[("h", Category::Host)],
    ),
    // WMI `__PATH : \\DESKTOP-7K2Q9LM\root\cimv2:…`
    (r"\\\\(?P<h>[A-Za-z0-9][A-Za-z0-9-]*)\\root\\", &[("h", Category::Host)]),
    // uname -a, and Xorg's `Current Operating System: Linux myhost 6.8.0-45-generic #45-Ubuntu …`
    (
        r"(?m)(?:^|Current Operating System: )Linux (?P<h>[A-Za-z0-9][A-Za-z0-9._-]*) \d+\.\d+\S* #\d",
        &[("h", Category::Host)],
    ),
    // DxDiag `Machine Id: {…}`, hostnamectl `Machine ID: …`, `Boot ID: …`
    (r"(?mi)^[ \t]*(?:Machine|Boot) ?Id[ \t]*:[ \t]*(?P<v>\S+)", &[("v", Category::Id)]),
    // root=UUID=…, PARTUUID=…, /dev/disk/by-uuid/…, QEMU -uuid …
    (r"(?i)\b(?:PART)?UUID=['\x22]?(?P<v>[A-Za-z0-9-]+)", &[("v", Category::Uuid)]),
    (r"/by-(?:part)?uuid/(?P<v>[A-Za-z0-9-]+)", &[("v", Category::Uuid)]),
    (r"(?:^|\s)-uuid\s+(?P<v>[A-Za-z0-9-]+)", &[("v", Category::Uuid)]),
    // Disk serials and WWNs: <serial>…</serial>, serial=… in QEMU args, JSON "serial":"…",
    // SMBIOS <entry name='serial'>, `Serial Number: …`, lspci `Device Serial Number …`, udev.
    (r"<(?:serial|wwn)>(?P<v>[^<]+)</(?:serial|wwn)>", &[("v", Category::Serial)]),
    (r"<entry name=['\x22]serial['\x22]>(?P<v>[^<]+)</entry>", &[("v", Category::Serial)]),
    (r"\b(?:serial|wwn)=(?P<v>[^,\s\x22'\\}]+)", &[("v", Category::Serial)]),
    (r"\x22(?:serial|wwn)\x22\s*:\s*\x22(?P<v>[^\x22]+)\x22", &[("v", Category::Serial)]),
    (
        r"(?mi)^[ \t]*(?:[A-Za-z]+[ \t])?Serial[ \t]?(?:Number|No\.?)?[ \t]*[:=][ \t]*(?P<v>[^\r\n]*[^\s])",
        &[("v", Category::Serial)],
    ),
    (r"Device Serial Number (?P<v>[0-9A-Fa-f-]+)", &[("v", Category::Serial)]),
    (r"\bID_SERIAL(?:_SHORT)?=(?P<v>\S+)", &[("v", Category::Serial)]),
    // VNC/SPICE passwords: <graphics passwd='…'>, -spice …,password=…, JSON "password":"…"
    (r"\bpasswd=['\x22](?P<v>[^'\x22]*)['\x22]", &[("v", Category::Secret)]),
    (r"\bpassword=(?P<v>[^,\s\x22'\\]+)", &[("v", Category::Secret)]),
    (r"\bpassword=['\x22](?P<v>[^'\x22]+)['\x22]", &[("v", Category::Secret)]),
    (r"\x22(?:password|passwd)\x22\s*:\s*\x22(?P<v>[^\x22]+)\x22", &[("v", Category::Secret)]),
    // libvirt <auth username='…'><secret type='ceph' usage='…'/>, QEMU secret objects, RBD, iSCSI
    (r"<auth\b[^>]*\busername=['\x22](?P<u>[^'\x22]+)['\x22]", &[("u", Category::User)]),
    (r"<secret\b[^>]*\busage=['\x22](?P<v>[^'\x22]+)['\x22]", &[("v", Category::Secret)]),
    (r"\bsecret,\S*?\bdata=(?P<v>[^,\s\x22'\\]+)", &[("v", Category::Secret)]),
    (r"\x22qom-type\x22\s*:\s*\x22secret\x22[^}]*\x22data\x22\s*:\s*\x22(?P<v>[^\x22]+)\x22", &[("v", Category::Secret)]),
    (r"\brbd:[^\s'\x22]*?:id=(?P<u>[^:,\s'\x22\\]+)", &[("u", Category::User)]),
    (r"\brbd:[^\s'\x22]*?:key=(?P<v>[^:,\s'\x22\\]+)", &[("v", Category::Secret)]),
    (r"\x22user\x22\s*:\s*\x22(?P<u>[^\x22]+)\x22", &[("u", Category::User)]),
    // iSCSI: -drive file.driver=iscsi,file.user=…; URLs with credentials (iscsi://user%pass@…)
    (r"\b(?:file\.)?user=(?P<u>[A-Za-z0-9._-]+)", &[("u", Category::User)]),
    (
        r"\b[a-z][a-z0-9+.-]*://(?P<u>[^:%@/\s'\x22]+)(?:[:%](?P<v>[^@/\s'\x22]+))?@",
        &[("u", Category::User), ("v", Category::Secret)],
    ),
    // USER=alice, SUDO_USER=alice, `id`: uid=1000(alice)
    (r"\b(?:USER|LOGNAME|SUDO_USER|USERNAME)=(?P<u>[A-Za-z0-9._-]+)", &[("u", Category::User)]),
    (r"\buid=\d+\((?P<u>[^)\s]+)\)", &[("u", Category::User)]),
];

impl Contexts {
    /// Every value a context names in `text`, with its category (`passwd='…'` → a secret).
    pub fn values<'t>(&self, text: &'t str) -> Vec<(regex::Match<'t>, Category)> {
        let mut out = Vec::new();
        for i in self.set.matches(text).iter() {
            let ctx = &self.list[i];
            for caps in ctx.re.captures_iter(text) {
                for (group, cat) in ctx.groups {
                    if let Some(m) = caps.name(group) {
                        out.push((m, *cat));
                    }
                }
            }
        }
        out
    }
}

#[allow(clippy::expect_used)] // literal patterns: they compile, and the unit tests run them
pub fn contexts() -> &'static Contexts {
    static C: OnceLock<Contexts> = OnceLock::new();
    C.get_or_init(|| {
        let set = RegexSet::new(CONTEXTS.iter().map(|(p, _)| *p)).expect("redaction contexts compile");
        let list = CONTEXTS.iter().map(|(p, g)| Context { re: Regex::new(p).expect("redaction context compiles"), groups: g }).collect();
        Contexts { set, list }
    })
}

/// UUIDs, dashed MACs, colon-hex runs (MACs and IPv6, but also timestamps and PCI addresses,
/// told apart by [`classify`]) and dotted quads, in one pass.
#[allow(clippy::expect_used)] // a literal pattern: it compiles, and the unit tests run it
pub fn shapes() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}",
            r"|[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}",
            r"|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,}(?:\.[0-9]{1,3}){0,3}",
            r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}",
        ))
        .expect("redaction shapes compile")
    })
}

fn before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

fn after(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

fn alnum(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What a [`shapes`] match at `start..end` of `text` is, if it is an identifying value; the
/// range may shrink (a colon run's trailing `:`).
pub fn classify(text: &str, start: usize, end: usize) -> Option<(Category, usize, usize)> {
    let s = &text[start..end];
    let (prev, next) = (before(text, start), after(text, end));
    if is_uuid(s) {
        return (!alnum(prev) && !alnum(next)).then_some((Category::Uuid, start, end));
    }
    if s.len() == 17 && s.as_bytes()[2] == b'-' {
        let sep = |c: Option<char>| alnum(c) || c == Some('-');
        return (!sep(prev) && !sep(next)).then_some((Category::Mac, start, end));
    }
    if s.contains(':') {
        // A MAC: six groups of two hex digits; or more, a link-layer header (`MAC=dst:src:type`
        // in netfilter logs) or an InfiniBand address.
        let groups: Vec<&str> = s.split(':').collect();
        let mac_like = groups.len() >= 6 && groups.iter().all(|g| g.len() == 2 && g.bytes().all(|b| b.is_ascii_hexdigit()));
        let joined = |c: Option<char>| alnum(c) || matches!(c, Some(':' | '.'));
        if mac_like {
            return (!joined(prev) && !alnum(next) && next != Some(':')).then_some((Category::Mac, start, end));
        }
        // An IPv6 address: what std parses (so `10:11:12`, `0000:08:00.0` and `10de:1c02` are not).
        if joined(prev) || alnum(next) {
            return None;
        }
        let trimmed = if s.ends_with(':') && !s.ends_with("::") { &s[..s.len() - 1] } else { s };
        return trimmed.parse::<Ipv6Addr>().is_ok().then_some((Category::Ip, start, start + trimmed.len()));
    }
    ipv4(text, start, end).then_some((Category::Ip, start, end))
}

/// A dotted quad that is an address and not a version: four 0–255 parts without leading zeros,
/// not inside a longer dotted run or word, and not right after `version`/`compiled for`/….
fn ipv4(text: &str, start: usize, end: usize) -> bool {
    let s = &text[start..end];
    let parts_ok = s.split('.').all(|p| p.parse::<u8>().is_ok() && !(p.len() > 1 && p.starts_with('0')));
    let prev = before(text, start);
    if !parts_ok || alnum(prev) || prev == Some('.') {
        return false;
    }
    let rest = &text[end..];
    if alnum(after(text, end)) || (rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit())) {
        return false;
    }
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let lead = text[line_start..start].trim_end().trim_end_matches([':', '=']).trim_end();
    let word = lead.rsplit(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("").to_ascii_lowercase();
    const VERSION_WORDS: &[&str] = &[
        "version", "ver", "v", "for", "server", "build", "release", "revision", "rev", "driver", "firmware", "bios",
        "package", "kernel", "xorg", "driverversion", "fileversion", "productversion",
    ];
    !(VERSION_WORDS.contains(&word.as_str()) || word.ends_with("version"))
}
