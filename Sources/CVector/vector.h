// Two lane-wise operations on eight floats that Swift cannot spell as single
// vector instructions, for the engine's vector kernels. Header only: nothing
// to link.
//
// - SIMD8.addingProduct is a loop over scalar lanes, which LLVM re-packs into
//   mixed ymm/xmm/scalar code inside long expressions (about twice the
//   instructions in exp); cvector_fma8 is one llvm.fma.v8f32 (one vfmadd).
// - SIMD8.squareRoot() becomes eight scalar sqrtf calls with an errno
//   fallback; cvector_sqrt8 is one llvm.sqrt.v8f32 (one vsqrtps, correctly
//   rounded).
typedef float cvector_float8 __attribute__((ext_vector_type(8)));

static inline __attribute__((always_inline))
cvector_float8 cvector_fma8(cvector_float8 a, cvector_float8 b, cvector_float8 c) {
    return __builtin_elementwise_fma(a, b, c);
}

static inline __attribute__((always_inline))
cvector_float8 cvector_sqrt8(cvector_float8 x) {
    return __builtin_elementwise_sqrt(x);
}
