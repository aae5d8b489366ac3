//! Writes a synthetic libvirt QEMU log (`var/log/libvirt/qemu/NAME.log`) of about N MiB to
//! stdout, for bench/compare.sh and benches/: VM start-up blocks and QEMU run-time noise in the
//! real line shapes (the seed host's win10.log, signatures.md §3), with failure signatures
//! scattered through it (VD301's `vfio_region_write … busy`, a missing romfile, a group that is
//! not viable, AMD topoext). Deterministic: the same size gives the same file.
//!
//! `cargo run --release --example qemu_log -- 256 > win10.log`

use std::io::Write;

/// xorshift64: no dependency, and the same file every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// libvirt's header and QEMU command line at each VM start (the seed's win10.log).
fn start_up(out: &mut Vec<u8>, t: u64) {
    let (h, m, s) = (t / 3600 % 24, t / 60 % 60, t % 60);
    out.extend_from_slice(format!(
        "2023-05-26 {h:02}:{m:02}:{s:02}.112+0000: starting up libvirt version: 8.0.0, package: 1ubuntu7.5 (Ubuntu), qemu version: 6.2.0Debian 1:6.2+dfsg-2ubuntu6.8, kernel: 5.15.0-72-generic, hostname: host-1\n\
LC_ALL=C \\\n\
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin \\\n\
HOME=/var/lib/libvirt/qemu/domain-1-win10 \\\n\
/usr/bin/qemu-system-x86_64 \\\n\
-name guest=win10,debug-threads=on \\\n\
-S \\\n\
-machine pc-q35-6.2,usb=off,vmport=off,dump-guest-core=off,memory-backend=pc.ram \\\n\
-accel kvm \\\n\
-cpu host,migratable=on,topoext=on,hv-time=on,hv-relaxed=on,hv-vapic=on,hv-spinlocks=0x1fff,hv-vendor-id=0123456789ab,kvm=off \\\n\
-m 16384 \\\n\
-smp 8,sockets=1,dies=1,cores=4,threads=2 \\\n\
-uuid 6c9a3e4f-2b1d-4e8a-9f7c-5d3b2a1e0f9c \\\n\
-no-user-config \\\n\
-nodefaults \\\n\
-device pcie-root-port,port=16,chassis=5,id=pci.5,bus=pcie.0,multifunction=on,addr=0x2 \\\n\
-blockdev '{{\"driver\":\"file\",\"filename\":\"/var/lib/libvirt/images/win10.qcow2\",\"node-name\":\"libvirt-1-storage\",\"auto-read-only\":true,\"discard\":\"unmap\"}}' \\\n\
-device vfio-pci,host=0000:08:00.0,id=hostdev0,bus=pci.5,multifunction=on,addr=0x0 \\\n\
-device vfio-pci,host=0000:08:00.1,id=hostdev1,bus=pci.5,addr=0x0.0x1 \\\n\
-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny \\\n\
-msg timestamp=on\n\
char device redirected to /dev/pts/1 (label charserial0)\n"
    )
    .as_bytes());
}

/// One line of QEMU at run time (stamped as QEMU's `-msg timestamp=on` does).
fn run_time(out: &mut Vec<u8>, rng: &mut Rng, t: u64) {
    let stamp = format!("2023-05-26T{:02}:{:02}:{:02}.{:06}Z", t / 3600 % 24, t / 60 % 60, t % 60, rng.below(1_000_000));
    let line = match rng.below(1000) {
        // Failure signatures, rare.
        0 => format!("{stamp} qemu-system-x86_64: vfio_region_write(0000:08:00.0:region1+0x{:x}, 0x{:x},8) failed: Device or resource busy\n", rng.below(1 << 24), rng.below(1 << 20)),
        1 if rng.below(20) == 0 => format!("{stamp} qemu-system-x86_64: -device vfio-pci,host=0000:0a:00.0,id=hostdev3,bus=pci.7,addr=0x0,romfile=/home/user-1/vbios.rom: failed to find romfile \"/home/user-1/vbios.rom\"\n"),
        2 if rng.below(20) == 0 => format!("{stamp} qemu-system-x86_64: -device vfio-pci,host=0000:04:00.0,id=hostdev2,bus=pci.6,addr=0x0: vfio 0000:04:00.0: group 15 is not viable\nPlease ensure all devices within the iommu_group are bound to their vfio bus driver.\n"),
        3 if rng.below(20) == 0 => format!("{stamp} qemu-system-x86_64: warning: This family of AMD CPU doesn't support hyperthreading(2)\nPlease configure -smp options properly or try enabling topoext feature.\n"),
        // Noise: what a running VM's log is full of.
        4..=20 => format!("{stamp} qemu-system-x86_64: -device vfio-pci,host=0000:0a:00.0,id=hostdev3,bus=pci.7,addr=0x0: Failed to mmap 0000:0a:00.0 BAR 0. Performance may be slow\n"),
        21..=300 => format!("{stamp} qemu-system-x86_64: vfio_listener_region_add received unaligned region\n"),
        301..=500 => format!("{stamp} qemu-system-x86_64: warning: host doesn't support requested feature: CPUID.80000001H:ECX.svm [bit 2]\n"),
        501..=650 => format!("{stamp} qemu-system-x86_64: vfio: Cannot reset device 0000:08:00.1, no available reset mechanism.\n"),
        651..=750 => format!("{stamp} qemu-system-x86_64: vfio_err_notifier_handler(0000:0a:00.0) Unrecoverable error detected. Please collect any data possible and then kill the guest\n"),
        751..=850 => format!("{stamp} qemu-system-x86_64: warning: guest updated active PIT channel 0 mode 3\n"),
        851..=950 => format!("{stamp} qemu-system-x86_64: vfio: Unable to power on device, stuck in D3\n"),
        _ => format!("{stamp} qemu-system-x86_64: terminating on signal 15 from pid {} (/usr/sbin/libvirtd)\n", 1000 + rng.below(60000)),
    };
    out.extend_from_slice(line.as_bytes());
}

/// Write about `bytes` bytes of log to `w`.
pub fn generate(w: &mut impl Write, bytes: u64, seed: u64) -> std::io::Result<u64> {
    let mut rng = Rng::new(seed);
    let mut written = 0u64;
    let mut t = 43_200u64;
    let mut buf = Vec::with_capacity(1 << 20);
    while written < bytes {
        buf.clear();
        while buf.len() < 1 << 20 {
            if rng.below(20_000) == 0 {
                let reason = if rng.below(2) == 0 { "shutdown" } else { "destroyed" };
                buf.extend_from_slice(format!("2023-05-26 {:02}:{:02}:{:02}.905+0000: shutting down, reason={reason}\n", t / 3600 % 24, t / 60 % 60, t % 60).as_bytes());
                start_up(&mut buf, t);
            }
            run_time(&mut buf, &mut rng, t);
            t += rng.below(2);
        }
        w.write_all(&buf)?;
        written += buf.len() as u64;
    }
    Ok(written)
}

#[allow(dead_code)] // benches/ include this file for `generate` only
fn main() -> std::io::Result<()> {
    let mib: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(256);
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut head = Vec::new();
    start_up(&mut head, 43_200);
    w.write_all(&head)?;
    generate(&mut w, (mib << 20).saturating_sub(head.len() as u64), 0x9e37_79b9_7f4a_7c15)?;
    w.flush()
}
