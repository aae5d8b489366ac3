//! Host network interfaces as the net collector wrote them (src/collect/net.rs, one line per
//! interface: `NAME type=bridge|wireless|ether|tun master=BR`): which bridge each belongs to.

use super::LogLine;
use crate::bundle::SourceKind;

#[derive(Debug, Clone)]
pub struct NetInterface<'a> {
    pub name: String,
    /// `bridge`, `wireless`, `ether`, `tun`.
    pub kind: String,
    /// The bridge (or bond) this interface is enslaved to (`master` link in sysfs).
    pub master: Option<String>,
    /// The line it came from, for evidence.
    pub line: &'a LogLine,
}

impl NetInterface<'_> {
    pub fn is_wireless(&self) -> bool {
        self.kind == "wireless"
    }
}

/// One collector line; `None` for a line that is not `NAME key=value…`.
fn parse_line(line: &LogLine) -> Option<NetInterface<'_>> {
    let mut words = line.text.split_whitespace();
    let name = words.next()?.to_string();
    let (mut kind, mut master) = (None, None);
    for w in words {
        match w.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("master", v)) => master = Some(v.to_string()),
            _ => {}
        }
    }
    Some(NetInterface { name, kind: kind?, master, line })
}

impl super::System {
    /// Every interface of the collected `sys/class/net` (empty when it was not collected).
    pub fn net_interfaces(&self) -> Vec<NetInterface<'_>> {
        self.lines(SourceKind::Net).filter_map(parse_line).collect()
    }
}
