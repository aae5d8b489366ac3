//! libvirt domain XML as pasted (prompt lines, prose around it, broken documents): the reader
//! returns a VM or a one-line problem, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vfio_doctor::system::vm::parse_domain;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_domain(&text, "win10.xml");
});
