//! Option ROM dumps (vBIOS files): the image chain, PCIR, EFI header and PE image are parsed
//! from untrusted bytes and rendered; nothing may panic or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vfio_doctor::rom::parse;

fuzz_target!(|data: &[u8]| {
    let rom = parse(data);
    let _ = rom.render();
    let _ = rom.ids();
});
