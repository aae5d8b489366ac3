//! Option ROM dumps: the image chain, PCIR, EFI header and PE image, parsed and rendered.
//! The path itself is `vfio_doctor::untrusted::rom`, which the crate's tests also run over
//! every fixture; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vfio_doctor::untrusted::rom(data));
