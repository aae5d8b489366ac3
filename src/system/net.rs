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

#[cfg(test)]
mod tests {
    use crate::bundle::{Bundle, Source, SourceKind};
    use crate::system::System;

    #[test]
    fn collector_lines_become_interfaces() {
        let mut b = Bundle::new();
        let text = "br0 type=bridge\nwlp6s0 type=wireless master=br0\nenp7s0 type=ether\ngarbage\n";
        b.sources.push(Source::ok(SourceKind::Net, "sys/class/net", "sysfs", text.into()));
        let sys = System::from_bundle(&b);
        let nets = sys.net_interfaces();
        let shown: Vec<(&str, &str, Option<&str>)> = nets.iter().map(|n| (n.name.as_str(), n.kind.as_str(), n.master.as_deref())).collect();
        assert_eq!(shown, vec![("br0", "bridge", None), ("wlp6s0", "wireless", Some("br0")), ("enp7s0", "ether", None)]);
        assert!(nets[1].is_wireless());
        assert_eq!(nets[1].line.line_no, 2);
    }
}
