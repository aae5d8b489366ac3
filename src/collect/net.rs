//! Network interfaces (sys/class/net/*): which are bridges, which are wireless, and which
//! bridge each belongs to — one line per interface: `NAME type=bridge|wireless|ether master=BR`.

use super::{Collector, Options};
use crate::bundle::{Bundle, Source, SourceKind};
use crate::root::Root;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::Net,
    about: "network interfaces, bridges and their members",
    reads: &["sys/class/net/*"],
    runs: &[],
    needs_root: false,
    collect,
};

const DIR: &str = "sys/class/net";

fn collect(root: &Root, _: &Options, bundle: &mut Bundle) {
    let names = match root.list_dir(DIR) {
        Ok(n) => n,
        Err(e) => {
            bundle.sources.push(super::unreadable(SourceKind::Net, root, DIR, &e, false));
            return;
        }
    };
    let mut text = String::new();
    for name in names {
        let base = format!("{DIR}/{name}");
        let kind = if root.exists(&format!("{base}/bridge")) {
            "bridge"
        } else if root.exists(&format!("{base}/wireless")) || root.exists(&format!("{base}/phy80211")) {
            "wireless"
        } else if root.exists(&format!("{base}/tun_flags")) {
            "tun"
        } else {
            "ether"
        };
        text.push_str(&format!("{name} type={kind}"));
        if let Ok(master) = root.link_name(&format!("{base}/master")) {
            text.push_str(&format!(" master={master}"));
        }
        text.push('\n');
    }
    bundle.sources.push(Source::ok(SourceKind::Net, DIR, "sysfs", text));
}
