//! Logic for `bridge-on-wireless`; its documentation is rules/bridge-on-wireless.md.

use crate::rules::{Evidence, Findings};
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let nets = sys.net_interfaces();
    // Proxmox VMs join the host's vmbr bridges, set up in /etc/network/interfaces: not libvirt's networks.
    for vm in sys.vms.iter().filter(|v| v.from_xml && v.pve.is_none()) {
        for i in vm.interfaces.iter().filter(|i| i.kind == "bridge") {
            let Some(bridge) = i.bridge.as_deref() else { continue };
            let wireless: Vec<_> = nets.iter().filter(|n| n.master.as_deref() == Some(bridge) && n.is_wireless()).collect();
            let Some(first) = wireless.first() else { continue };
            let mut evidence = vec![vm.evidence(i.line, i.excerpt.clone())];
            if let Some(b) = nets.iter().find(|n| n.name == bridge) {
                evidence.push(Evidence::from(b.line));
            }
            evidence.extend(wireless.iter().map(|w| Evidence::from(w.line)));
            let wired: Vec<&str> = nets.iter().filter(|n| n.kind == "ether" && n.name != "lo").map(|n| n.name.as_str()).collect();
            let f = out.emit(
                format!("VM {} / bridge {bridge}", vm.name),
                format!(
                    "VM {} is attached to bridge {bridge}, whose port {} is a wireless interface: an 802.11 client cannot carry the VM's \
                     frames, so the VM gets no network",
                    vm.name, first.name
                ),
                evidence,
            );
            let mut r = format!(
                "A Wi-Fi client may only send frames with its own MAC address (802.11 three-address mode), so a bridge over `{w}` \
                 cannot work; neither can macvtap on it, for the same reason. Take `{w}` out of `{bridge}` \
                 (`sudo ip link set {w} nomaster`, and remove it from the bridge in netplan/NetworkManager) and choose one of:\n\n",
                w = first.name
            );
            match wired.as_slice() {
                [] => {}
                [eth, ..] => r.push_str(&format!(
                    "- bridge a wired port instead: make `{eth}` the port of `{bridge}` (`sudo nmcli con add type bridge-slave ifname {eth} master {bridge}`) and keep the VM on `{bridge}`;\n"
                )),
            }
            r.push_str(&format!(
                "- NAT (reachable from the host only, or with port forwards): `sudo virsh edit {name}` and use libvirt's default network (keep the `<interface>`'s `<mac address=…/>` line, or the guest sees a new network adapter):\n\n\
                 ```xml\n<interface type='network'>\n  <source network='default'/>\n  <model type='virtio'/>\n</interface>\n```\n\n\
                 - a routed libvirt network (`<forward mode='route' dev='{w}'/>`, its own subnet, plus a route to it on your router) \
                 for access from the LAN.",
                name = vm.name,
                w = first.name,
            ));
            f.remediation = r;
        }
    }
}
