//! [`declare_model!`]: the extern declarations of a generated model, as a function.

/// Declares the symbols `NAME_run` and `NAME_descriptor` of a model compiled by
/// `nnc build ... --name NAME` and defines `fn NAME() -> Model` returning it.
///
/// ```ignore
/// nnc_runtime::declare_model!(tiny_cnn); // or declare_model!(pub tiny_cnn)
/// let model = tiny_cnn();
/// ```
///
/// The library (`NAME.a`) must be linked into the program, e.g. by a build script
/// printing `cargo:rustc-link-lib=static=NAME`. The two symbols come from the same
/// library, which is what [`Model::new`](crate::Model::new) asks of its caller.
#[macro_export]
macro_rules! declare_model {
    ($vis:vis $name:ident) => {
        $vis fn $name() -> $crate::Model {
            unsafe extern "C" {
                #[link_name = concat!(stringify!($name), "_descriptor")]
                static DESCRIPTOR: $crate::ModelDesc;
                #[link_name = concat!(stringify!($name), "_run")]
                fn run(
                    inputs: *const *const ::core::ffi::c_void,
                    outputs: *const *mut ::core::ffi::c_void,
                    arena: *mut ::core::ffi::c_void,
                ) -> i32;
            }
            // SAFETY: both symbols are exported by the library nnc generated for
            // this model name, and the descriptor is immutable data.
            unsafe { $crate::Model::new(&*::core::ptr::addr_of!(DESCRIPTOR), run) }
        }
    };
}
