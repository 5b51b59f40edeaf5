//! Names for the globals that hold pointers: a `Global` root covers a
//! module's whole writable segment, and an edge from it names the data
//! symbol (ELF `.symtab`, else `.dynsym`) around the pointer, demangled,
//! so that "why alive" says `app::CACHE`, not `app (.bss) +0x7001f0`.
//!
//! The load biases are read in the parent before the fork (the dynamic
//! loader's lock, which `dl_iterate_phdr` takes, may be held by another
//! thread at the fork); the symbol tables in the child, for the modules
//! whose globals hold pointers only.

use crate::sys;

/// A loaded object: its path (as `/proc/self/maps` names it) and load bias.
#[derive(Debug, Clone)]
pub(crate) struct Module {
    pub(crate) path: String,
    pub(crate) bias: u64,
}

/// The loaded objects. In the parent, behind the reentrancy guard.
pub(crate) fn modules() -> Vec<Module> {
    let mut out: Vec<Module> = Vec::new();
    for m in sys::mappings() {
        if !out.iter().any(|o| o.path == m.path) {
            out.push(Module {
                path: m.path,
                bias: m.bias,
            });
        }
    }
    out
}

/// A data symbol: runtime start, end, demangled name.
pub(crate) type Symbol = (usize, usize, String);

/// The data symbols of the object at `path` (loaded at `bias`) that hold
/// any of `addrs`, sorted by address; empty if it cannot be read.
pub(crate) fn symbols_holding(path: &str, bias: u64, addrs: &[usize]) -> Vec<Symbol> {
    use object::{Object as _, ObjectSymbol as _, SymbolKind};
    let Some(data) = crate::profile::symbolize::map_file(std::path::Path::new(path)) else {
        return Vec::new();
    };
    let Ok(elf) = object::File::parse(&*data) else {
        return Vec::new();
    };
    let mut all: Vec<(usize, usize, &[u8])> = Vec::new();
    for table in [elf.symbols(), elf.dynamic_symbols()] {
        for s in table {
            if s.kind() == SymbolKind::Data && s.size() > 0 {
                if let Ok(name) = s.name_bytes() {
                    let start = bias.wrapping_add(s.address()) as usize;
                    all.push((start, start + s.size() as usize, name));
                }
            }
        }
        if !all.is_empty() {
            break; // the full table has them all
        }
    }
    all.sort_unstable_by_key(|s| s.0);
    let mut out: Vec<Symbol> = Vec::new();
    for &a in addrs {
        let i = all.partition_point(|s| s.0 <= a);
        let Some(&(start, end, name)) = i.checked_sub(1).map(|i| &all[i]) else {
            continue;
        };
        if a < end && !out.iter().any(|o| o.0 == start) {
            let name = String::from_utf8_lossy(name);
            out.push((start, end, format!("{:#}", rustc_demangle::demangle(&name))));
        }
    }
    out.sort_unstable_by_key(|s| s.0);
    out
}
