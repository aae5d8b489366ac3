//! Whatever a user pasted: decoded, split at prompts, sniffed, rebuilt into devices and groups, diagnosed and rendered.
//! The path itself is `vfio_doctor::untrusted::paste`, which the crate's tests also run over
//! every fixture; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vfio_doctor::untrusted::paste(data));
