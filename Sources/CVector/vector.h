// Lane-wise fused multiply-add on eight floats, for the engine's vector
// kernels. Swift spells SIMD8.addingProduct as a loop over scalar lanes, which
// LLVM re-packs into mixed ymm/xmm/scalar code inside long expressions (about
// twice the instructions in exp); this builtin is one llvm.fma.v8f32, i.e. one
// vfmadd on a ymm register. Header only: nothing to link.
typedef float cvector_float8 __attribute__((ext_vector_type(8)));

static inline __attribute__((always_inline))
cvector_float8 cvector_fma8(cvector_float8 a, cvector_float8 b, cvector_float8 c) {
    return __builtin_elementwise_fma(a, b, c);
}
