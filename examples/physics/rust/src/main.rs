//! Call the compiled network from Rust through its C ABI (declared in build/algo.h).
//!
//!     nnc examples/physics/model.pt2 -o build/algo.so
//!     cargo run --offline --manifest-path examples/physics/rust/Cargo.toml \
//!         --target-dir build/rust -- 2 3 1.5
//!
//! Prints the network's force for each (x0, x1, x2) given on the command line (default: three
//! built-in points) through the scalar entry point and through algo_eval_batch, as main.c does;
//! numbers are printed exactly (shortest round-trip form).

use std::os::raw::{c_double, c_int};

extern "C" {
    fn algo(x0: c_double, x1: c_double, x2: c_double) -> c_double;
    fn algo_eval_batch(n: i64, x: *const c_double, y: *mut c_double) -> c_int;
}

fn main() {
    let given: Vec<f64> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let points: Vec<[f64; 3]> = if given.len() == 3 {
        vec![[given[0], given[1], given[2]]]
    } else {
        vec![[1.0, 1.0, 1.0], [2.0, 3.0, 1.5], [1.5, 2.5, 2.75]]
    };
    let flat: Vec<f64> = points.iter().flatten().copied().collect();
    let mut forces = vec![0.0; points.len()];
    // SAFETY: the buffers hold n samples of 3 inputs and n outputs, as the header says.
    let status = unsafe { algo_eval_batch(points.len() as i64, flat.as_ptr(), forces.as_mut_ptr()) };
    if status != 0 {
        eprintln!("algo_eval_batch failed with status {status}");
        std::process::exit(1);
    }
    for (point, force) in points.iter().zip(&forces) {
        let [x0, x1, x2] = *point;
        // SAFETY: a pure function of three doubles.
        let scalar = unsafe { algo(x0, x1, x2) };
        println!(
            "x = ({x0}, {x1}, {x2}): network {force:?}, scalar call {scalar:?}, law {:?}",
            x0 * x1 / (x2 * x2)
        );
    }
}
