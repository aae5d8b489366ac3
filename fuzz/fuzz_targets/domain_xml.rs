//! libvirt domain XML as pasted (prompt lines, prose around it, broken documents).
//! The path itself is `vfio_doctor::untrusted::domain_xml`, which the crate's tests also run over
//! every fixture; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vfio_doctor::untrusted::domain_xml(data));
