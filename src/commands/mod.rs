//! One module per subcommand: orchestration only (load → system → rules → report).

pub mod check;
pub mod collect;
pub mod explain;
pub mod rom;
pub mod iommu;
pub mod rules;

use std::io::Write;
use std::path::Path;

use crate::bundle::{self, Bundle};
use crate::collect::{self as collector, Options};
use crate::import::{self, Input};
use crate::root::Root;
use crate::signatures::Keep;
use crate::Error;

/// Where a bundle comes from: `--bundle`, loose inputs, `--root`, or the live host.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub bundle: Option<std::path::PathBuf>,
    pub root: Option<std::path::PathBuf>,
    pub inputs: Vec<String>,
    pub vm: Option<String>,
    pub redact: bool,
    /// The lines long logs keep from between head and tail; `None`: the built-in catalog's.
    pub signatures: Option<Keep>,
}

impl Origin {
    /// The signature set long logs are captured with.
    pub fn keep(&self) -> Result<Keep, Error> {
        match &self.signatures {
            Some(k) => Ok(k.clone()),
            None => Ok(std::sync::Arc::new(crate::rules::signatures(&crate::rules::Catalog::builtin()?))),
        }
    }
}

/// Build the bundle the user asked for: loaded, or collected (and inputs added), then redacted.
pub fn obtain_bundle(origin: &Origin) -> Result<Bundle, Error> {
    let inputs: Vec<Input> = origin.inputs.iter().map(|a| Input::parse(a)).collect();
    let keep = origin.keep()?;
    let mut bundle = if let Some(path) = &origin.bundle {
        if origin.root.is_some() {
            return Err(Error::Usage("--bundle and --root cannot be used together".into()));
        }
        let mut b = bundle::load(path)?;
        import::add_inputs(&mut b, &inputs, &keep)?;
        b
    } else if origin.root.is_none() && !inputs.is_empty() {
        // Loose files alone: analyse them, never the machine we run on.
        let mut b = Bundle::new();
        import::add_inputs(&mut b, &inputs, &keep)?;
        b
    } else {
        let root = match &origin.root {
            Some(dir) => Root::at(dir)?,
            None => Root::live(),
        };
        let mut b = collector::collect(&root, &Options { vm: origin.vm.clone(), keep: keep.clone() });
        vm_exists(&root, origin.vm.as_deref())?;
        import::add_inputs(&mut b, &inputs, &keep)?;
        b
    };
    if let (Some(vm), true) = (&origin.vm, origin.root.is_none() && (origin.bundle.is_some() || !inputs.is_empty())) {
        let mut known: Vec<String> = bundle.sources.iter().filter_map(|s| s.vm.clone()).collect();
        known.sort();
        known.dedup();
        check_vm(vm, &known)?;
    }
    redact_if_asked(origin, &mut bundle);
    Ok(bundle)
}

/// `--vm NAME` on a host or tree must name a domain it has. When libvirt's directories cannot be
/// listed (they need root) nobody can tell, and the sources say why.
pub(crate) fn vm_exists(root: &Root, vm: Option<&str>) -> Result<(), Error> {
    match (vm, collector::libvirt::domains(root)) {
        (Some(vm), Ok(known)) => check_vm(vm, &known),
        _ => Ok(()),
    }
}

/// `--vm NAME` must name a VM there is: an error naming the ones there are.
fn check_vm(vm: &str, known: &[String]) -> Result<(), Error> {
    if known.iter().any(|k| k == vm) {
        return Ok(());
    }
    Err(Error::Usage(if known.is_empty() {
        format!("--vm {vm}: no such VM; no VM is defined here")
    } else {
        format!("--vm {vm}: no such VM; the VMs here: {}", known.join(", "))
    }))
}

/// Redact unless `--no-redact`: always, even a bundle that says it is redacted (what was pasted
/// next to it is not yet). Collecting this machine, the name of the user running vfio-doctor is
/// replaced too, wherever it appears.
pub(crate) fn redact_if_asked(origin: &Origin, bundle: &mut Bundle) {
    if !origin.redact {
        return;
    }
    let live = origin.bundle.is_none() && origin.root.is_none() && origin.inputs.is_empty();
    let known: Vec<(bundle::redact::Category, String)> = if live {
        ["SUDO_USER", "USER", "LOGNAME"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .map(|u| (bundle::redact::Category::User, u))
            .collect()
    } else {
        Vec::new()
    };
    bundle::redact::redact_with(bundle, &known);
}

/// Write `text` to `-o FILE`, or to stdout. A closed pipe (`| head`) is not an error.
pub fn emit(text: &str, output: Option<&Path>) -> Result<(), Error> {
    match output {
        Some(path) => std::fs::write(path, text).map_err(|source| Error::Output { path: path.to_path_buf(), source }),
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(source) => Err(Error::Output { path: "stdout".into(), source }),
            }
        }
    }
}
