// A Linear layer over int8 weights with each input row quantized on its own scale, on x86-64 CPUs with
// AVX-512 VNNI: y = x W^T + b, float32 in and out. Built with the other kernels into one extension
// (flywheel/model/kernels.py); the rest of that extension is AVX2 code, so only the functions here
// marked VNNI use AVX-512, and Python calls the op only where `int8_linear_supported()` says the CPU
// has it (elsewhere flywheel.model.quant uses fbgemm).
//
// Why: fbgemm's dynamic int8 Linear quantizes its whole input on one scale, so flywheel.model.quant
// scales every row to [-1, 1] first and rescales after, in six more torch calls a layer; those cost as
// much as the product (bench preset, a 60-token prefill: 90 us of extra ops beside 89 us in fbgemm
// per layer). Here one call does it all:
//
//   1. each row: m = max |x[k]|; q[k] = round(x[k] * (127 / m)) + 128, an unsigned byte in [1, 255]
//      (round to nearest, ties to even; a row of zeros, or one too small for 127 / m to be finite,
//      is all 128; a row with a NaN or an infinity gives NaN outputs);
//   2. acc[j] = sum over k of q[k] * w[j][k] in int32 (exact, in any order), through VPDPBUSD
//      (unsigned byte times signed byte, four at a time);
//   3. y[j] = float(acc[j] - 128 * sum_k w[j][k]) * ((m / 127) * scale[j]) + b[j], each a single
//      float32 operation in that order.
//
// Every step is exact or one rounding of a fixed formula, per row: a row's result never depends on
// its batch, the blocking below or the thread count (tests/model/test_kernels.py checks the kernel
// against that formula written in torch, bit for bit). Activations get 8 bits, one more than
// fbgemm's reduce_range 7.
//
// Weights come in panels of 16 outputs (flywheel.model.quant.int8_panels): (ceil(N / 16), K4 / 4, 64)
// int8, K4 = K rounded up to a multiple of 4, each 64-byte group holding 4 consecutive k of 16 outputs
// as VPDPBUSD reads them; outputs past N and k past K are zero.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if !defined(__x86_64__)
#error "flywheel's int8 linear kernel is x86-64 code; kernels.py builds it only there"
#endif
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

namespace {

constexpr int64_t kPanel = 16;  // outputs a panel (one 512-bit vector of int32)

bool supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

// Step 1 for one row: its bytes q[0..K4) (k past K: 128, the zero point) and its scale m / 127. The
// last partial vector runs masked through the same instructions, so every k is rounded alike. A row
// whose largest magnitude is 0 or too small for 127 / m to be finite quantizes to all 128 (the output
// is the bias); a row holding a NaN or an infinity gets a NaN scale, so its outputs are NaN, as a
// float Linear's would be.
VNNI void quantize_row(const float* x, int64_t K, int64_t K4, uint8_t* q, float* scale) {
  __m512 vmax = _mm512_setzero_ps();
  __mmask16 bad = 0;
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 in = K - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (K - k)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(in, x + k);
    bad |= _mm512_cmp_ps_mask(_mm512_sub_ps(v, v), _mm512_setzero_ps(), _CMP_NEQ_UQ);  // NaN or +-inf
    vmax = _mm512_max_ps(vmax, _mm512_abs_ps(v));
  }
  const float m = _mm512_reduce_max_ps(vmax);
  const float inv = 127.f / m;
  const bool usable = m > 0.f && std::isfinite(inv);
  *scale = bad ? std::numeric_limits<float>::quiet_NaN() : m / 127.f;
  const __m512 vinv = _mm512_set1_ps(usable && !bad ? inv : 0.f);
  const __m512i zero_point = _mm512_set1_epi32(128);
  for (int64_t k = 0; k < K4; k += 16) {  // lanes past K load 0, which quantizes to the zero point
    const __mmask16 in = K - k >= 16 ? static_cast<__mmask16>(0xFFFF)
                         : K > k      ? static_cast<__mmask16>((1u << (K - k)) - 1)
                                      : static_cast<__mmask16>(0);
    const __mmask16 out = K4 - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (K4 - k)) - 1);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(in, x + k), vinv);
    // Rounds to nearest even (the default MXCSR mode), |v| <= 127.00002 so within [-127, 127].
    const __m512i b = _mm512_add_epi32(_mm512_cvtps_epi32(v), zero_point);
    _mm512_mask_cvtusepi32_storeu_epi8(q + k, out, b);
  }
}

// Step 2 for R rows by P panels: acc[r * P + p] = the int32 sums of row r against panel p's 16 outputs.
template <int R, int P>
VNNI inline void micro(const uint8_t* const* q, const int8_t* panels, int64_t G, __m512i* out) {
  __m512i acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_si512();
  for (int64_t g = 0; g < G; ++g) {
    __m512i w[P];
    for (int p = 0; p < P; ++p) w[p] = _mm512_loadu_si512(panels + (p * G + g) * 64);
    for (int r = 0; r < R; ++r) {
      int32_t four;
      std::memcpy(&four, q[r] + 4 * g, 4);
      const __m512i xv = _mm512_set1_epi32(four);
      for (int p = 0; p < P; ++p) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], xv, w[p]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) out[r * P + p] = acc[r][p];
}

template <int R>
VNNI void micro_panels(int P, const uint8_t* const* q, const int8_t* panels, int64_t G, __m512i* out) {
  switch (P) {
    case 1: micro<R, 1>(q, panels, G, out); break;
    case 2: micro<R, 2>(q, panels, G, out); break;
    case 3: micro<R, 3>(q, panels, G, out); break;
    case 4: micro<R, 4>(q, panels, G, out); break;
    case 5: micro<R, 5>(q, panels, G, out); break;
    case 6: micro<R, 6>(q, panels, G, out); break;
    case 7: micro<R, 7>(q, panels, G, out); break;
    default: micro<R, 8>(q, panels, G, out); break;
  }
}

struct Problem {
  int64_t B, N, G, blocks;
  const uint8_t* q;      // (B, 4G) quantized rows
  const float* rscale;   // (B,) m / 127 of each row
  const int8_t* panels;  // (blocks, G, 64)
  const int32_t* comp;   // (blocks * 16,) 128 * sum_k w[j][k]
  const float* wscale;   // (blocks * 16,) each output's weight scale
  const float* bias;     // (N,) or null
  float* y;              // (B, N)
};

// Panels p0..p0+np-1 for every row, four rows at a time, then step 3 into y.
VNNI void run_panels(const Problem& s, int64_t p0, int np) {
  __m512i acc[4 * 8];
  const uint8_t* rows[4];
  for (int64_t r0 = 0; r0 < s.B; r0 += 4) {
    const int nr = static_cast<int>(std::min<int64_t>(4, s.B - r0));
    for (int r = 0; r < nr; ++r) rows[r] = s.q + (r0 + r) * 4 * s.G;
    const int8_t* panels = s.panels + p0 * s.G * 64;
    switch (nr) {
      case 1: micro_panels<1>(np, rows, panels, s.G, acc); break;
      case 2: micro_panels<2>(np, rows, panels, s.G, acc); break;
      case 3: micro_panels<3>(np, rows, panels, s.G, acc); break;
      default: micro_panels<4>(np, rows, panels, s.G, acc); break;
    }
    for (int p = 0; p < np; ++p) {
      const int64_t n0 = (p0 + p) * kPanel;
      const __mmask16 mask = n0 + kPanel <= s.N ? static_cast<__mmask16>(0xFFFF)
                                                : static_cast<__mmask16>((1u << (s.N - n0)) - 1);
      const __m512i comp = _mm512_loadu_si512(s.comp + n0);
      const __m512 wscale = _mm512_loadu_ps(s.wscale + n0);
      const __m512 bias = s.bias ? _mm512_maskz_loadu_ps(mask, s.bias + n0) : _mm512_setzero_ps();
      for (int r = 0; r < nr; ++r) {
        const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(s.rscale[r0 + r]), wscale);
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r * np + p], comp)), scale);
        if (s.bias) v = _mm512_add_ps(v, bias);
        _mm512_mask_storeu_ps(s.y + (r0 + r) * s.N + n0, mask, v);
      }
    }
  }
}

at::Tensor int8_linear(const at::Tensor& x, const at::Tensor& panels, const at::Tensor& comp,
                       const at::Tensor& wscale, const c10::optional<at::Tensor>& bias, int64_t N) {
  TORCH_CHECK(supported(), "flywheel::int8_linear needs an x86-64 CPU with AVX-512 VNNI");
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 2 && x.is_contiguous(),
              "x: a contiguous (B, K) float32 CPU tensor");
  const int64_t B = x.size(0), K = x.size(1), blocks = (N + kPanel - 1) / kPanel;
  TORCH_CHECK(panels.scalar_type() == at::kChar && panels.is_contiguous() && panels.dim() == 3 &&
                  panels.size(0) == blocks && panels.size(1) == (K + 3) / 4 && panels.size(2) == 64,
              "panels: (ceil(N / 16), ceil(K / 4), 64) int8, as flywheel.model.quant.int8_panels packs them");
  TORCH_CHECK(comp.scalar_type() == at::kInt && comp.is_contiguous() && comp.numel() == blocks * kPanel,
              "comp: (ceil(N / 16) * 16,) int32");
  TORCH_CHECK(wscale.scalar_type() == at::kFloat && wscale.is_contiguous() && wscale.numel() == blocks * kPanel,
              "wscale: (ceil(N / 16) * 16,) float32");
  const float* b = nullptr;
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->scalar_type() == at::kFloat && bias->numel() == N && bias->is_contiguous(),
                "bias: (N,) float32");
    b = bias->data_ptr<float>();
  }
  // 255 * 127 * K must fit an int32 sum.
  TORCH_CHECK(K <= 65536, "flywheel::int8_linear: K = ", K, " is past the 65,536 inputs its int32 sums can hold");
  const int64_t G = panels.size(1), K4 = 4 * G;
  auto q = at::empty({B, K4}, x.options().dtype(at::kByte));
  auto rscale = at::empty({B}, x.options());
  auto y = at::empty({B, N}, x.options());
  const float* xp = x.data_ptr<float>();
  uint8_t* qp = q.data_ptr<uint8_t>();
  float* sp = rscale.data_ptr<float>();
  at::parallel_for(0, B, 64, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) quantize_row(xp + r * K, K, K4, qp + r * K4, sp + r);
  });
  const Problem s{B, N, G, blocks, qp, sp, panels.data_ptr<int8_t>(), comp.data_ptr<int32_t>(),
                  wscale.data_ptr<float>(), b, y.data_ptr<float>()};
  // One row: 8 panels a task (128 outputs); more rows: 4 panels a task, every row through them.
  const int P = B == 1 ? 8 : 4;
  const int64_t tasks = (blocks + P - 1) / P;
  at::parallel_for(0, tasks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t)
      run_panels(s, t * P, static_cast<int>(std::min<int64_t>(P, blocks - t * P)));
  });
  return y;
}

bool int8_linear_supported() { return supported(); }

}  // namespace

TORCH_LIBRARY_FRAGMENT(flywheel, m) {
  m.def("int8_linear(Tensor x, Tensor panels, Tensor comp, Tensor wscale, Tensor? bias, int n) -> Tensor");
  m.impl("int8_linear", c10::DispatchKey::CPU, TORCH_FN(int8_linear));
  m.def("int8_linear_supported() -> bool", &int8_linear_supported);
}
