//! Recognising an option ROM / vBIOS dump among loose inputs (the structure is parsed in
//! src/rom/). PCI Firmware Spec 3.0: every image starts `55 AA`; NVIDIA nvflash/TechPowerUp
//! dumps carry a header first, found as `55 AA <size> EB <10 bytes> "VIDEO"`
//! (Matoking/NVIDIA-vBIOS-VFIO-Patcher's regex).

/// Where the image starts: 0 for a plain ROM, N after an nvflash header; `None` if not a ROM.
pub fn image_offset(bytes: &[u8]) -> Option<usize> {
    if bytes.len() >= 512 && bytes[0] == 0x55 && bytes[1] == 0xAA {
        return Some(0);
    }
    // nvflash headers are a few KiB; look in the first 64 KiB.
    let window = &bytes[..bytes.len().min(64 * 1024)];
    memchr::memmem::find_iter(window, &[0x55, 0xAA]).find(|&i| {
        window.get(i + 3) == Some(&0xEB) && window.get(i + 14..i + 19) == Some(b"VIDEO".as_slice())
    })
}

pub fn looks_like_rom(bytes: &[u8]) -> bool {
    image_offset(bytes).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_nvflash_header() {
        let mut plain = vec![0u8; 1024];
        plain[0] = 0x55;
        plain[1] = 0xAA;
        assert_eq!(image_offset(&plain), Some(0));
        let mut nv = vec![0x20u8; 0x600];
        nv[0x600 - 0x200..].fill(0);
        let at = 0x400;
        nv[at..at + 4].copy_from_slice(&[0x55, 0xAA, 0x7C, 0xEB]);
        nv[at + 4..at + 14].copy_from_slice(b"K7400.L.w.");
        nv[at + 14..at + 19].copy_from_slice(b"VIDEO");
        assert_eq!(image_offset(&nv), Some(at));
        assert_eq!(image_offset(b"U\xaa short"), None);
        assert_eq!(image_offset(&[0x7f, b'E', b'L', b'F']), None);
    }
}
