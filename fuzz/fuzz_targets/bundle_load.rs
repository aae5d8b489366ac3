//! Someone else's bundle: loaded, parsed into the System, diagnosed and rendered in every format.
//! The path itself is `vfio_doctor::untrusted::bundle`, which the crate's tests also run over
//! every fixture; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vfio_doctor::untrusted::bundle(data));
