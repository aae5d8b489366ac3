//! Whatever a user pasted: decoded, split at prompts, sniffed, rebuilt into devices and groups, diagnosed and rendered.
//! Each input goes both ways: sniffed (`vfio_doctor::untrusted::paste`) and forced onto the kind
//! its first byte picks (`paste_forced`, as `KIND:PATH` does), so every paste parser is reached
//! whatever the sniffer says. The crate's tests run both over every fixture; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vfio_doctor::untrusted::paste(data);
    vfio_doctor::untrusted::paste_forced(data);
});
