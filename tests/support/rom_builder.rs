//! Builds synthetic PCI option ROMs for the tests (nothing downloaded): legacy x86 images and
//! EFI images carrying a minimal PE32+ driver that goblin parses. Layouts: PCI Firmware Spec
//! 3.0 and edk2 Pci22.h/Pci30.h (see src/rom/mod.rs).

pub const X64: u16 = 0x8664;
pub const ARM64: u16 = 0xAA64;

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// The PCIR structure at `at` (PCI 3.0, length 0x18, class 030000).
fn pcir(b: &mut [u8], at: usize, vendor: u16, device: u16, units: u16, code_type: u8, last: bool) {
    b[at..at + 4].copy_from_slice(b"PCIR");
    put16(b, at + 0x04, vendor);
    put16(b, at + 0x06, device);
    put16(b, at + 0x0A, 0x18);
    b[at + 0x0C] = 3;
    b[at + 0x0F] = 0x03; // class code 03 00 00, stored low byte first
    put16(b, at + 0x10, units);
    put16(b, at + 0x12, if code_type == 0 { 0x0001 } else { 0 });
    b[at + 0x14] = code_type;
    b[at + 0x15] = if last { 0x80 } else { 0 };
}

/// A legacy x86 video BIOS image of `units` × 512 bytes, checksummed like a real one.
pub fn legacy(vendor: u16, device: u16, units: u16, last: bool) -> Vec<u8> {
    let mut b = vec![0u8; usize::from(units) * 512];
    b[0] = 0x55;
    b[1] = 0xAA;
    b[2] = units as u8;
    b[3..6].copy_from_slice(&[0xEB, 0x4B, 0x37]); // jmp short: the init entry point
    b[0x0E..0x13].copy_from_slice(b"VIDEO");
    put16(&mut b, 0x18, 0x40);
    pcir(&mut b, 0x40, vendor, device, units, 0, last);
    b[0x60..0x72].copy_from_slice(b"IBM VGA Compatible");
    let sum = b.iter().fold(0u8, |a, &x| a.wrapping_add(x));
    let n = b.len();
    b[n - 1] = 0u8.wrapping_sub(sum);
    b
}

/// A minimal PE32+ EFI boot-service driver for `machine`: headers, one `.text` section.
pub fn pe32plus(machine: u16) -> Vec<u8> {
    let mut b = vec![0u8; 0x400];
    b[0..2].copy_from_slice(b"MZ");
    put32(&mut b, 0x3C, 0x40);
    b[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    put16(&mut b, coff, machine);
    put16(&mut b, coff + 2, 1); // sections
    put16(&mut b, coff + 16, 0xF0); // size of optional header
    put16(&mut b, coff + 18, 0x0022); // executable, large address aware
    let opt = coff + 20;
    put16(&mut b, opt, 0x20B); // PE32+
    put32(&mut b, opt + 4, 0x200); // size of code
    put32(&mut b, opt + 16, 0x1000); // entry point
    put32(&mut b, opt + 20, 0x1000); // base of code
    put32(&mut b, opt + 32, 0x1000); // section alignment
    put32(&mut b, opt + 36, 0x200); // file alignment
    put32(&mut b, opt + 56, 0x2000); // size of image
    put32(&mut b, opt + 60, 0x200); // size of headers
    put16(&mut b, opt + 68, 11); // IMAGE_SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER
    put32(&mut b, opt + 108, 16); // number of data directories (all empty)
    let sec = opt + 0xF0;
    b[sec..sec + 5].copy_from_slice(b".text");
    put32(&mut b, sec + 8, 0x200); // virtual size
    put32(&mut b, sec + 12, 0x1000); // virtual address
    put32(&mut b, sec + 16, 0x200); // raw size
    put32(&mut b, sec + 20, 0x200); // raw pointer
    put32(&mut b, sec + 36, 0x6000_0020); // code, execute, read
    b[0x200] = 0xC3;
    b
}

/// An EFI image (code type 3) with an uncompressed PE32+ driver for `machine`.
pub fn efi(vendor: u16, device: u16, machine: u16, last: bool) -> Vec<u8> {
    let pe = pe32plus(machine);
    let units = (0x40 + pe.len()).div_ceil(512) as u16;
    let mut b = vec![0u8; usize::from(units) * 512];
    b[0] = 0x55;
    b[1] = 0xAA;
    put16(&mut b, 0x02, units);
    put32(&mut b, 0x04, 0x0EF1);
    put16(&mut b, 0x08, 0x0B); // boot service driver
    put16(&mut b, 0x0A, machine);
    put16(&mut b, 0x0C, 0); // not compressed
    put16(&mut b, 0x16, 0x40); // PE image offset
    put16(&mut b, 0x18, 0x1C); // PCIR offset
    pcir(&mut b, 0x1C, vendor, device, units, 3, last);
    b[0x40..0x40 + pe.len()].copy_from_slice(&pe);
    b
}

/// The GTX 1060 of the seed host: 10de:1c02.
pub const GTX1060: (u16, u16) = (0x10de, 0x1c02);
/// The seed's RX 6500 XT: 1002:743f.
pub const RX6500XT: (u16, u16) = (0x1002, 0x743f);

/// Every ROM the tests use, by file name (fixtures/roms/NAME).
pub fn all() -> Vec<(&'static str, Vec<u8>)> {
    let (v, d) = GTX1060;
    let good = [legacy(v, d, 2, false), efi(v, d, X64, true)].concat();
    let mut nvflash = b"NVGI nvflash-style dump header (synthetic)".to_vec();
    nvflash.resize(0x380, 0xFF);
    nvflash.extend(&good);
    let html = b"<!DOCTYPE html>\n<html><head><title>VGA Bios Collection</title></head>\n<body>Download</body></html>\n".to_vec();
    vec![
        ("good.rom", good.clone()),
        // The seed's "Error, ran off the end": the legacy image says more follow, the file ends.
        ("truncated.rom", legacy(v, d, 2, false)),
        ("nvflash.rom", nvflash),
        ("wrong-device.rom", [legacy(RX6500XT.0, RX6500XT.1, 2, false), efi(RX6500XT.0, RX6500XT.1, X64, true)].concat()),
        ("legacy-only.rom", legacy(v, d, 2, true)),
        ("arm64-only.rom", [legacy(v, d, 2, false), efi(v, d, ARM64, true)].concat()),
        ("not-a-rom.rom", html),
    ]
}
