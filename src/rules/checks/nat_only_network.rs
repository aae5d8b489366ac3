//! Logic for `nat-only-network`; its documentation is rules/nat-only-network.md.

use crate::rules::Findings;
use crate::system::vm::Interface;
use crate::system::System;

/// libvirt's `default` network (virbr0, NAT) and QEMU user networking (slirp/passt) are NAT.
fn is_nat(i: &Interface) -> bool {
    i.kind == "user" || (i.kind == "network" && i.network.as_deref() == Some("default"))
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    // Proxmox VMs join the host's vmbr bridges, set up in /etc/network/interfaces: not libvirt's networks.
    for vm in sys.vms.iter().filter(|v| v.from_xml && !v.hostdevs.is_empty() && v.pve.is_none()) {
        if vm.interfaces.is_empty() || !vm.interfaces.iter().all(is_nat) {
            continue;
        }
        let evidence = vm.interfaces.iter().map(|i| vm.evidence(i.line, i.excerpt.clone())).collect();
        // The wired interface to put in the bridge, when the collected sys/class/net shows one.
        let nets = sys.net_interfaces();
        let wired: Vec<&str> = nets.iter().filter(|n| n.kind == "ether" && n.master.is_none() && n.name != "lo").map(|n| n.name.as_str()).collect();
        let existing_bridge = nets.iter().find(|n| n.kind == "bridge" && !n.name.starts_with("virbr") && !n.name.starts_with("docker"));
        let eth = match wired.as_slice() {
            [one] => one.to_string(),
            _ => "enp7s0".to_string(),
        };
        let eth_note = if wired.len() == 1 { String::new() } else { format!(" (`{eth}` stands for your wired interface: see `ip -br link`)") };
        let bridge = existing_bridge.map(|b| b.name.clone()).unwrap_or_else(|| "br0".into());
        let f = out.emit(
            format!("VM {}", vm.name),
            format!(
                "VM {} only has NAT networking ({}): other machines on the LAN cannot reach it (remote desktop, streaming, SSH)",
                vm.name,
                vm.interfaces.iter().map(|i| i.excerpt.as_str()).collect::<Vec<_>>().join(", ")
            ),
            evidence,
        );
        let mut r = String::new();
        if let Some(b) = existing_bridge {
            r.push_str(&format!("The host already has the bridge `{}`; attach the VM to it.\n\n", b.name));
        } else {
            r.push_str(&format!(
                "Create a bridge `{bridge}` on the wired interface{eth_note}; a Wi-Fi interface cannot be bridged. The host's own \
                 address moves to `{bridge}`, so do this from the console, not over SSH. With netplan (Ubuntu), in \
                 `/etc/netplan/01-br0.yaml`, then `sudo netplan apply`:\n\n\
                 ```yaml\nnetwork:\n  version: 2\n  ethernets:\n    {eth}:\n      dhcp4: false\n  bridges:\n    {bridge}:\n      \
                 interfaces: [{eth}]\n      dhcp4: true\n```\n\n\
                 With NetworkManager:\n\n```sh\nsudo nmcli con add type bridge ifname {bridge} con-name {bridge}\n\
                 sudo nmcli con add type bridge-slave ifname {eth} master {bridge}\nsudo nmcli con up {bridge}\n```\n\n\
                 With systemd-networkd: a `{bridge}.netdev` (`Kind=bridge`), a `.network` that sets `Bridge={bridge}` for `{eth}`, and \
                 one with `DHCP=yes` for `{bridge}`.\n\n"
            ));
        }
        r.push_str(&format!(
            "Then `sudo virsh edit {name}` and replace the `<interface>` with this — keep its `<mac address=…/>` line, or the guest sees a new network adapter:\n\n\
             ```xml\n<interface type='bridge'>\n  <source bridge='{bridge}'/>\n  <model type='virtio'/>\n</interface>\n```",
            name = vm.name
        ));
        f.remediation = r;
    }
}
