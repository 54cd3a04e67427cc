//! Link the library nnc wrote: $NNC_LIBRARY, or build/algo.so at the top of the repository.
//! nnc names it algo.so (not libalgo.so), so it is linked by path, with an rpath to its folder.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let library = env::var("NNC_LIBRARY")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../../../build/algo.so"));
    let library = library.canonicalize().unwrap_or_else(|_| {
        panic!(
            "no library at {}: run `nnc examples/physics/model.pt2 -o build/algo.so` first, \
             or set NNC_LIBRARY",
            library.display()
        )
    });
    let folder = library.parent().unwrap();
    println!("cargo:rustc-link-arg={}", library.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", folder.display());
    println!("cargo:rerun-if-env-changed=NNC_LIBRARY");
    println!("cargo:rerun-if-changed={}", library.display());
}
