use super::*;
use crate::bundle::{Source, SourceKind};

/// Redact one text the way a bundle's sources are: learn, then replace.
fn redact_text(text: &str) -> String {
    let mut r = Redactor::new();
    r.discover(text);
    r.apply(text).unwrap_or_else(|| text.to_string())
}

fn bundle_of(texts: &[(SourceKind, &str, &str)]) -> Bundle {
    let mut b = Bundle::new();
    for (kind, path, text) in texts {
        b.sources.push(Source::ok(*kind, *path, "file", text.to_string()));
    }
    b
}

fn text_of(b: &Bundle, path: &str) -> String {
    b.sources.iter().find(|s| s.path == path).and_then(|s| s.text.clone()).unwrap_or_default()
}

#[track_caller]
fn kept(text: &str) {
    assert_eq!(redact_text(text), text, "should be kept as it is");
}

#[test]
fn what_the_diagnosis_needs_is_kept() {
    // PCI addresses, vendor:device and subsystem ids, kernel versions, timestamps, ranges.
    kept("[    0.374890] pci 0000:08:00.0: Adding to iommu group 16\n");
    kept("[    1.228190] vfio_pci: add [10de:1c02[ffffffff:ffffffff]] class 0x000000/00000000\n");
    kept("08:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP106 [GeForce GTX 1060 3GB] [10de:1c02] (rev a1)\n\tSubsystem: ZOTAC International (MCO) Ltd. GP106 [GeForce GTX 1060 3GB] [19da:2438]\n\tKernel driver in use: vfio-pci\n");
    kept("BOOT_IMAGE=/boot/vmlinuz-5.15.0-72-generic ro quiet amd_iommu=on iommu=pt vfio-pci.ids=10de:1c02,10de:10f1\n");
    kept("[    0.000000] Linux version 5.15.0-72-generic (buildd@lcy02-amd64-075) (gcc (Ubuntu 11.3.0-1ubuntu1~22.04) 11.3.0, GNU ld (GNU Binutils for Ubuntu) 2.38) #79-Ubuntu SMP (Ubuntu 5.15.0-72.79-generic 5.15.98)\n");
    kept("[  161.421515] vfio-pci 0000:0a:00.0: BAR 1: can't reserve [mem 0xd0000000-0xdfffffff 64bit pref]\n");
    kept("2023-05-26T06:50:56.222512Z qemu-system-x86_64: -device vfio-pci,host=0000:08:00.0,id=hostdev0,bus=pci.5,addr=0x0: vfio 0000:08:00.0: group 16 is not viable\n");
    kept("2023-05-26 12:01:03.112+0000: starting up libvirt version: 8.0.0, package: 1ubuntu7.5 (Ubuntu), qemu version: 6.2.0Debian 1:6.2+dfsg-2ubuntu6.8, kernel: 5.15.0-72-generic\n");
    kept("-netdev user,id=hostnet0 -device virtio-net-pci,netdev=hostnet0 -machine pc-q35-6.2,usb=off -vnc 0.0.0.0:0 -spice port=5901,addr=127.0.0.1 -vnc :0,password=on\n");
    kept("PNPDeviceID : PCI\\VEN_10DE&DEV_1C02&SUBSYS_243819DA&REV_A1\\4&1C3A8F1E&0&0028\n");
    kept("Class GUID:                 {4d36e968-e325-11ce-bfc1-08002be10318}\n");
    kept("std::vector<int>::iterator and Foo::Bar::baz\n");
    kept("inet6 ::1/128 scope host\n    link/ether 00:00:00:00:00:00 brd ff:ff:ff:ff:ff:ff\n");
}

#[test]
fn versions_that_look_like_addresses_are_kept() {
    kept("      Driver File Version: 31.00.0015.3623 (English)\n           Driver Version: 31.0.15.3623\n");
    kept("DriverVersion                : 31.0.15.3161\n");
    kept("           Driver Version: 1.2.3.4\n");
    kept("DxDiag Version: 10.00.19041.0928 64bit Unicode\nOperating System: Windows 10 Pro 64-bit (10.0, Build 19045) (19041.vb_release.191206-1406)\n");
    kept("X.Org X Server 1.21.1.4\n[    12.345] (II) Module glx: vendor=\"X.Org Foundation\"\n[    12.346] \tcompiled for 1.21.1.4, module version = 1.0.0\n");
    kept("version 1.2.3.4\nv1.2.3.4\nqemu-6.2.0.1.2\n10.0.0.1.5\n");
    kept("NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.54.03  Tue Jun  6 22:20:39 UTC 2023\n");
    kept("[    0.000000] DMI: ASUS System Product Name/TUF GAMING B550M-PLUS (WI-FI), BIOS 2803 04/27/2022\n");
}

#[test]
fn addresses_are_replaced() {
    let out = redact_text(
        "    <mac address='52:54:00:6b:3c:1d'/>\n2: enp7s0: <BROADCAST> mtu 1500\n    link/ether 04:42:1A:0B:2C:3D brd ff:ff:ff:ff:ff:ff\n    inet 192.168.1.23/24 brd 192.168.1.255 scope global\n    inet6 fe80::5054:ff:fe6b:3c1d/64 scope link\n    inet6 2001:db8:85a3::8a2e:370:7334/64 scope global\nPhysical Address: 04-42-1A-0B-2C-3D\n-vnc 10.0.0.7:1 ::ffff:192.168.1.23\n",
    );
    for gone in ["52:54:00", "04:42:1A", "04-42-1A", "192.168.1.23", "fe80::5054", "2001:db8", "10.0.0.7"] {
        assert!(!out.contains(gone), "{gone} left in:\n{out}");
    }
    assert!(out.contains("<mac address='mac-1'/>"), "{out}");
    // The same MAC in another notation is the same placeholder.
    assert!(out.contains("link/ether mac-2 brd ff:ff:ff:ff:ff:ff") && out.contains("Physical Address: mac-2"), "{out}");
    assert!(out.contains("inet ip-1/24 brd ip-2 scope global"), "{out}");
    assert!(out.contains("inet6 ip-3/64") && out.contains("inet6 ip-4/64"), "{out}");
    assert!(out.contains("-vnc ip-5:1 ip-1"), "{out}");
}

#[test]
fn uuids_are_replaced_but_class_guids_kept() {
    let out = redact_text(
        "  <uuid>6c9a3e4f-2b1d-4e8a-9f7c-5d3b2a1e0f9c</uuid>\n-uuid 6C9A3E4F-2B1D-4E8A-9F7C-5D3B2A1E0F9C \\\nroot=UUID=3f1c2b7e-9a4d-4c1e-8f5a-2d6b7c8e9f01 ro\nUUID=ABCD-1234 /boot/efi vfat\n/dev/disk/by-uuid/ABCD-1234\n               Machine Id: {5B1E7C1A-2D44-4F0B-9C3E-7A1D2F6B8E90}\nClass GUID: {4d36e968-e325-11ce-bfc1-08002be10318}\nprofile=\"libvirt-6c9a3e4f-2b1d-4e8a-9f7c-5d3b2a1e0f9c\"\n",
    );
    assert_eq!(
        out,
        "  <uuid>uuid-4</uuid>\n-uuid uuid-4 \\\nroot=UUID=uuid-2 ro\nUUID=uuid-3 /boot/efi vfat\n/dev/disk/by-uuid/uuid-3\n               Machine Id: uuid-1\nClass GUID: {4d36e968-e325-11ce-bfc1-08002be10318}\nprofile=\"libvirt-uuid-4\"\n"
    );
}

#[test]
fn host_and_user_names_are_learned_from_their_contexts() {
    let out = redact_text(
        "[alice@yfy-desktop ~]$ sudo dmesg\nNov 02 10:11:12 yfy-desktop kernel: vfio-pci 0000:08:00.0: enabling device\n2023-05-26 12:01:03.112+0000: starting up libvirt version: 8.0.0, kernel: 5.15.0-72-generic, hostname: yfy-desktop.lan\n<source file='/home/alice/vms/win10.qcow2'/>\nPS C:\\Users\\Alice> pnputil\nalice's notes on YFY-DESKTOP\n",
    );
    assert_eq!(
        out,
        "[user-1@host-1 ~]$ sudo dmesg\nNov 02 10:11:12 host-1 kernel: vfio-pci 0000:08:00.0: enabling device\n2023-05-26 12:01:03.112+0000: starting up libvirt version: 8.0.0, kernel: 5.15.0-72-generic, hostname: host-2\n<source file='/home/user-1/vms/win10.qcow2'/>\nPS C:\\Users\\user-1> pnputil\nuser-1's notes on host-1\n"
    );
}

#[test]
fn windows_machine_names_are_replaced() {
    let out = redact_text(
        "             Machine name: DESKTOP-7K2Q9LM\n               Machine Id: {5B1E7C1A-2D44-4F0B-9C3E-7A1D2F6B8E90}\nSystemName                  : DESKTOP-7K2Q9LM\nPSComputerName              :\n__PATH : \\\\DESKTOP-7K2Q9LM\\root\\cimv2:Win32_VideoController.DeviceID=\"VideoController1\"\n",
    );
    assert_eq!(
        out,
        "             Machine name: host-1\n               Machine Id: uuid-1\nSystemName                  : host-1\nPSComputerName              :\n__PATH : \\\\host-1\\root\\cimv2:Win32_VideoController.DeviceID=\"VideoController1\"\n"
    );
}

#[test]
fn serials_and_secrets_are_replaced() {
    let out = redact_text(concat!(
        "<graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0' passwd='hunter2'>\n",
        "<graphics type='spice' passwd=\"s3cr3t-spice\"/>\n",
        "<serial>WD-WCC4N7KP1234</serial>\n",
        "<auth username='libvirt-iscsi'>\n  <secret type='iscsi' usage='myiscsi-secret'/>\n</auth>\n",
        "<auth username='cephuser'><secret type='ceph' uuid='0f6d2c1a-8e3b-4d57-a9c4-2b1e7f5d3c90'/></auth>\n",
        "-spice port=5900,addr=127.0.0.1,password=spicepass \\\n",
        "-device virtio-blk-pci,drive=d0,serial=WD-WCC4N7KP1234 -device scsi-hd,serial=S3Z9NB0K",
        " -drive file=rbd:pool/img:id=cephuser:key=AQBwZxxsecretkey==:auth_supported=cephx\n",
        "-object secret,id=sec0,data=c2VjcmV0,format=base64\n",
        "Serial Number: 9XK2JD3\n",
        "\t\tCapabilities: [140 v1] Device Serial Number 00-e0-4c-ff-fe-68-00-01\n",
        "<entry name='serial'>To Be Filled</entry>\n",
        "-drive file.driver=iscsi,file.transport=tcp,file.portal=192.168.50.5:3260,file.target=iqn.2008-01.lan:vm,file.lun=1,file.user=iscsiuser\n",
        "-drive file=iscsi://iscsiuser%iscsipass@192.168.50.5/iqn.2008-01.lan:vm/1\n",
    ));
    for gone in [
        "hunter2", "s3cr3t-spice", "WD-WCC4N7KP1234", "libvirt-iscsi", "myiscsi-secret", "cephuser", "0f6d2c1a", "spicepass",
        "S3Z9NB0K", "AQBwZxx", "c2VjcmV0", "9XK2JD3", "00-e0-4c", "To Be Filled", "iscsiuser", "iscsipass",
    ] {
        assert!(!out.contains(gone), "{gone} left in:\n{out}");
    }
    assert!(out.contains("passwd='secret-1'") && out.contains("<serial>serial-1</serial>") && out.contains("serial=serial-1 "), "{out}");
    assert!(out.contains("listen='0.0.0.0'") && out.contains("addr=127.0.0.1"), "{out}");
}

#[test]
fn generic_and_short_names_do_not_damage_the_text() {
    // A host called `ubuntu` identifies no one, and replacing it would break ID=ubuntu.
    let mut b = bundle_of(&[(SourceKind::OsRelease, "etc/os-release", "ID=ubuntu\n"), (SourceKind::KernelLog, "dmesg", "Nov 02 10:11:12 ubuntu kernel: x\n")]);
    b.host.hostname = Some("ubuntu".into());
    redact(&mut b);
    assert_eq!(text_of(&b, "etc/os-release"), "ID=ubuntu\n");
    // A host called `pc` is replaced where it stands alone, not inside the machine type.
    let mut b = bundle_of(&[(SourceKind::DomainXml, "win10.xml", "<type arch='x86_64' machine='pc-q35-6.2'>hvm</type>\n"), (SourceKind::KernelLog, "dmesg", "Nov 02 10:11:12 pc kernel: x\n")]);
    b.host.hostname = Some("pc".into());
    redact(&mut b);
    assert_eq!(text_of(&b, "win10.xml"), "<type arch='x86_64' machine='pc-q35-6.2'>hvm</type>\n");
    assert_eq!(text_of(&b, "dmesg"), "Nov 02 10:11:12 host-1 kernel: x\n");
    assert_eq!(b.host.hostname.as_deref(), Some("host-1"));
    // A short password is replaced where it is named, not everywhere its letters occur.
    assert_eq!(redact_text("passwd='ab' and a table\n"), "passwd='secret-1' and a table\n");
}

#[test]
fn one_value_is_one_placeholder_across_the_bundle() {
    let mut b = bundle_of(&[
        (SourceKind::DomainXml, "/home/alice/win10.xml", "<mac address='52:54:00:6B:3C:1D'/>\n<uuid>6c9a3e4f-2b1d-4e8a-9f7c-5d3b2a1e0f9c</uuid>\n"),
        (SourceKind::QemuLog, "var/log/libvirt/qemu/win10.log", "-uuid 6c9a3e4f-2b1d-4e8a-9f7c-5d3b2a1e0f9c \\\n-netdev tap,fd=30 -device virtio-net-pci,mac=52:54:00:6b:3c:1d\n2023-05-26 12:01:03.112+0000: starting up, hostname: myhost\n"),
    ]);
    b.host.hostname = Some("myhost".into());
    b.notes.push("/home/alice/win10.xml: read as domain XML on myhost".into());
    redact(&mut b);
    assert!(b.redacted);
    assert_eq!(b.sources[0].path, "/home/user-1/win10.xml");
    assert_eq!(text_of(&b, "/home/user-1/win10.xml"), "<mac address='mac-1'/>\n<uuid>uuid-1</uuid>\n");
    assert_eq!(
        text_of(&b, "var/log/libvirt/qemu/win10.log"),
        "-uuid uuid-1 \\\n-netdev tap,fd=30 -device virtio-net-pci,mac=mac-1\n2023-05-26 12:01:03.112+0000: starting up, hostname: host-1\n"
    );
    assert_eq!(b.notes, vec!["/home/user-1/win10.xml: read as domain XML on host-1".to_string()]);
}

#[test]
fn redacting_again_keeps_placeholders_and_numbers_new_values_after_them() {
    let mut b = bundle_of(&[(SourceKind::KernelLog, "dmesg", "Nov 02 10:11:12 myhost kernel: r8169 eth0: 04:42:1a:0b:2c:3d\n")]);
    b.host.hostname = Some("myhost".into());
    redact(&mut b);
    let once = text_of(&b, "dmesg");
    assert_eq!(once, "Nov 02 10:11:12 host-1 kernel: r8169 eth0: mac-1\n");
    // A pasted file added to the redacted bundle: its host and MAC are new values.
    b.sources.push(Source::ok(SourceKind::Text, "paste.txt", "input", "Nov 03 09:00:00 otherbox kernel: link/ether 52:54:00:00:00:01\n".into()));
    redact(&mut b);
    assert_eq!(text_of(&b, "dmesg"), once);
    assert_eq!(text_of(&b, "paste.txt"), "Nov 03 09:00:00 host-2 kernel: link/ether mac-2\n");
    assert_eq!(b.host.hostname.as_deref(), Some("host-1"));
}

#[test]
fn known_names_are_replaced_wherever_they_stand() {
    let mut b = bundle_of(&[(SourceKind::QemuLog, "win10.log", "-drive file=/srv/vms/carol-win10.qcow2 -name guest=carol-win10\n")]);
    redact_with(&mut b, &[(Category::User, "carol".to_string())]);
    assert_eq!(text_of(&b, "win10.log"), "-drive file=/srv/vms/user-1-win10.qcow2 -name guest=user-1-win10\n");
}

#[test]
fn every_context_pattern_compiles() {
    let c = contexts();
    assert_eq!(c.set.len(), c.list.len());
    assert!(shapes().is_match("52:54:00:6b:3c:1d"));
}

#[test]
fn large_logs_take_linear_time() {
    // 40 000 journal lines with addresses, hosts and PCI ids: every line has something to keep
    // and something to replace.
    let line = "Nov 02 10:11:12 myhost kernel: vfio-pci 0000:08:00.0: [10de:1c02] eth0 52:54:00:6b:3c:1d 192.168.1.23 at 06:50:56.222\n";
    let text = line.repeat(40_000);
    let mut b = bundle_of(&[(SourceKind::KernelLog, "journal", &text)]);
    let t = std::time::Instant::now();
    redact(&mut b);
    let out = text_of(&b, "journal");
    assert_eq!(out.lines().next(), Some("Nov 02 10:11:12 host-1 kernel: vfio-pci 0000:08:00.0: [10de:1c02] eth0 mac-1 ip-1 at 06:50:56.222"));
    assert_eq!(out.lines().count(), 40_000);
    // Generous even for an unoptimised build on a busy machine; quadratic work would take minutes.
    assert!(t.elapsed() < std::time::Duration::from_secs(60), "took {:?}", t.elapsed());
}

#[test]
fn ids_and_addresses_named_as_hosts_keep_their_own_kind() {
    let out = redact_text(
        " Static hostname: quasar-lab\n      Machine ID: 3f1c2b7e9a4d4c1e8f5a2d6b7c8e9f01\n         Boot ID: 0b6e4a527c1d4f3e9a8b1c2d3e4f5a6b\n<host name='192.168.50.40' port='6789'/>\nsrc 192.168.50.40\n",
    );
    assert_eq!(out, " Static hostname: host-1\n      Machine ID: id-1\n         Boot ID: id-2\n<host name='ip-1' port='6789'/>\nsrc ip-1\n");
}
