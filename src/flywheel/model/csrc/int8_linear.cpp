// A Linear layer over int8 weights with each input row quantized on its own scale, on x86-64 CPUs:
// y = x W^T + b, float32 in and out. Built with the other kernels into one extension
// (flywheel/model/kernels.py), whose code is AVX2; the functions marked VNNI use AVX-512 and run only
// where the CPU says it has AVX-512 VNNI (`int8_linear_bits()` is 8 there, 7 elsewhere).
//
// Why: fbgemm's dynamic int8 Linear quantizes its whole input on one scale, so flywheel.model.quant
// scales every row to [-1, 1] first and rescales after, in six more torch calls a layer; those cost as
// much as the product (bench preset, a 60-token prefill: 90 us of extra ops beside 89 us in fbgemm
// per layer). Here one call does it all, with L = 127 and Z = 128 (`bits` 8) or L = 63 and Z = 64
// (`bits` 7):
//
//   1. each row: m = max |x[k]|; q[k] = round(x[k] * (L / m)) + Z, an unsigned byte in [1, 2Z - 1]
//      (round to nearest, ties to even; a row of zeros, or one too small for L / m to be finite, is
//      all Z; a row with a NaN or an infinity gives NaN outputs);
//   2. acc[j] = sum over k of q[k] * w[j][k] in int32 (exact, in any order): with VNNI through
//      VPDPBUSD (unsigned byte times signed byte, four at a time); on AVX2 through VPMADDUBSW, whose
//      int16 pair sums saturate past 32,767, which 7-bit activations never reach (2 * 127 * 127);
//   3. y[j] = float(acc[j] - Z * sum_k w[j][k]) * ((m / L) * scale[j]) + b[j], each a single float32
//      operation in that order.
//
// Every step is exact or one rounding of a fixed formula, per row: a row's result never depends on
// its batch, the blocking below or the thread count (tests/model/test_kernels.py checks both variants
// against that formula written in torch, bit for bit). fbgemm gives activations 7 bits too.
//
// Weights come in panels of 16 outputs (flywheel.model.quant.int8_panels): (ceil(N / 16), K4 / 4, 64)
// int8, K4 = K rounded up to a multiple of 4, each 64-byte group holding 4 consecutive k of 16 outputs
// (one 32-bit lane an output) as VPDPBUSD reads them, and as two 256-bit halves for AVX2; outputs past
// N and k past K are zero. colsum: each output's weight sum, int32.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if !defined(__x86_64__) || !defined(__AVX2__)
#error "flywheel's int8 linear kernel is x86-64 AVX2 code; kernels.py builds it only there"
#endif
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

namespace {

constexpr int64_t kPanel = 16;  // outputs a panel

bool vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

struct Problem {
  int64_t B, N, G, blocks;
  const uint8_t* q;       // (B, 4G) quantized rows
  const float* rscale;    // (B,) m / L of each row
  const int8_t* panels;   // (blocks, G, 64)
  const int32_t* colsum;  // (blocks * 16,) sum_k w[j][k]
  const float* wscale;    // (blocks * 16,) each output's weight scale
  const float* bias;      // (N,) or null
  float* y;               // (B, N)
};

// Step 1's scale and multiplier for a row whose largest magnitude is m: a row too small for L / m to
// be finite quantizes to all Z, and a NaN or infinity in the row (`bad`) makes its scale NaN.
inline void row_scale(float m, bool bad, float levels, float* scale, float* inv) {
  const float i = levels / m;
  *scale = bad ? std::numeric_limits<float>::quiet_NaN() : m / levels;
  *inv = (m > 0.f && std::isfinite(i) && !bad) ? i : 0.f;
}

// ---- AVX-512 VNNI: 8-bit activations (L 127, Z 128). Masked loads and stores run the last partial
// vector through the same instructions, so every k is rounded alike.

VNNI void quantize_row_vnni(const float* x, int64_t K, int64_t K4, uint8_t* q, float* scale) {
  __m512 vmax = _mm512_setzero_ps();
  __mmask16 bad = 0;
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 in = K - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (K - k)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(in, x + k);
    bad |= _mm512_cmp_ps_mask(_mm512_sub_ps(v, v), _mm512_setzero_ps(), _CMP_NEQ_UQ);  // NaN or +-inf
    vmax = _mm512_max_ps(vmax, _mm512_abs_ps(v));
  }
  float inv;
  row_scale(_mm512_reduce_max_ps(vmax), bad != 0, 127.f, scale, &inv);
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512i zero_point = _mm512_set1_epi32(128);
  for (int64_t k = 0; k < K4; k += 16) {  // lanes past K load 0, which quantizes to the zero point
    const __mmask16 in = K - k >= 16 ? static_cast<__mmask16>(0xFFFF)
                         : K > k      ? static_cast<__mmask16>((1u << (K - k)) - 1)
                                      : static_cast<__mmask16>(0);
    const __mmask16 out = K4 - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (K4 - k)) - 1);
    // cvtps rounds to nearest even (the default MXCSR mode); |x * inv| <= 127.00002.
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(in, x + k), vinv);
    _mm512_mask_cvtusepi32_storeu_epi8(q + k, out, _mm512_add_epi32(_mm512_cvtps_epi32(v), zero_point));
  }
}

// Step 2 for R rows by P panels: acc[r * P + p] = the int32 sums of row r against panel p's 16 outputs.
template <int R, int P>
VNNI inline void micro_vnni(const uint8_t* const* q, const int8_t* panels, int64_t G, __m512i* out) {
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
VNNI void micro_panels_vnni(int P, const uint8_t* const* q, const int8_t* panels, int64_t G, __m512i* out) {
  switch (P) {
    case 1: micro_vnni<R, 1>(q, panels, G, out); break;
    case 2: micro_vnni<R, 2>(q, panels, G, out); break;
    case 3: micro_vnni<R, 3>(q, panels, G, out); break;
    case 4: micro_vnni<R, 4>(q, panels, G, out); break;
    case 5: micro_vnni<R, 5>(q, panels, G, out); break;
    case 6: micro_vnni<R, 6>(q, panels, G, out); break;
    case 7: micro_vnni<R, 7>(q, panels, G, out); break;
    default: micro_vnni<R, 8>(q, panels, G, out); break;
  }
}

// Panels p0..p0+np-1 (np <= 8) for every row, four rows at a time, then step 3 into y.
VNNI void run_panels_vnni(const Problem& s, int64_t p0, int np) {
  __m512i acc[4 * 8];
  const uint8_t* rows[4];
  for (int64_t r0 = 0; r0 < s.B; r0 += 4) {
    const int nr = static_cast<int>(std::min<int64_t>(4, s.B - r0));
    for (int r = 0; r < nr; ++r) rows[r] = s.q + (r0 + r) * 4 * s.G;
    const int8_t* panels = s.panels + p0 * s.G * 64;
    switch (nr) {
      case 1: micro_panels_vnni<1>(np, rows, panels, s.G, acc); break;
      case 2: micro_panels_vnni<2>(np, rows, panels, s.G, acc); break;
      case 3: micro_panels_vnni<3>(np, rows, panels, s.G, acc); break;
      default: micro_panels_vnni<4>(np, rows, panels, s.G, acc); break;
    }
    for (int p = 0; p < np; ++p) {
      const int64_t n0 = (p0 + p) * kPanel;
      const __mmask16 mask = n0 + kPanel <= s.N ? static_cast<__mmask16>(0xFFFF)
                                                : static_cast<__mmask16>((1u << (s.N - n0)) - 1);
      const __m512i comp = _mm512_slli_epi32(_mm512_loadu_si512(s.colsum + n0), 7);  // Z = 128
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

// ---- AVX2: 7-bit activations (L 63, Z 64), 8 lanes; masked loads (and a copy for the last bytes)
// give the partial vectors the same instructions as whole ones.

inline __m256i first_lanes(int64_t n) {  // lanes 0..n-1 all ones, n clamped to [0, 8]
  const int32_t c = static_cast<int32_t>(std::max<int64_t>(0, std::min<int64_t>(8, n)));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

void quantize_row_avx2(const float* x, int64_t K, int64_t K4, uint8_t* q, float* scale) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  __m256 vmax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; k += 8) {
    const __m256 v = _mm256_maskload_ps(x + k, first_lanes(K - k));
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_sub_ps(v, v), _mm256_setzero_ps(), _CMP_NEQ_UQ));
    vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, v));
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, vmax);
  float m = 0.f;
  for (float l : lanes) m = std::max(m, l);
  float inv;
  row_scale(m, _mm256_movemask_ps(bad) != 0, 63.f, scale, &inv);
  const __m256 vinv = _mm256_set1_ps(inv);
  const __m256i zero_point = _mm256_set1_epi32(64);
  for (int64_t k = 0; k < K4; k += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + k, first_lanes(K - k)), vinv);
    const __m256i i32 = _mm256_add_epi32(_mm256_cvtps_epi32(v), zero_point);  // [1, 127] (a NaN row: 0)
    const __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
    const __m128i bytes = _mm_packus_epi16(i16, i16);
    if (K4 - k >= 8) {
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + k), bytes);
    } else {
      alignas(16) uint8_t last[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(last), bytes);
      std::memcpy(q + k, last, static_cast<size_t>(K4 - k));
    }
  }
}

// R rows by P panels, each panel as two halves of 8 outputs: out[r * 2P + 2p + h].
template <int R, int P>
inline void micro_avx2(const uint8_t* const* q, const int8_t* panels, int64_t G, __m256i* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[R][2 * P];
  for (int r = 0; r < R; ++r)
    for (int h = 0; h < 2 * P; ++h) acc[r][h] = _mm256_setzero_si256();
  for (int64_t g = 0; g < G; ++g) {
    __m256i w[2 * P];
    for (int h = 0; h < 2 * P; ++h)
      w[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panels + ((h / 2) * G + g) * 64 + (h % 2) * 32));
    for (int r = 0; r < R; ++r) {
      int32_t four;
      std::memcpy(&four, q[r] + 4 * g, 4);
      const __m256i xv = _mm256_set1_epi32(four);
      for (int h = 0; h < 2 * P; ++h)
        acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(_mm256_maddubs_epi16(xv, w[h]), ones));
    }
  }
  for (int r = 0; r < R; ++r)
    for (int h = 0; h < 2 * P; ++h) out[r * 2 * P + h] = acc[r][h];
}

// Panels p0..p0+np-1 (np <= 2) for every row, two rows at a time, then step 3 into y.
void run_panels_avx2(const Problem& s, int64_t p0, int np) {
  __m256i acc[2 * 2 * 2];
  const uint8_t* rows[2];
  for (int64_t r0 = 0; r0 < s.B; r0 += 2) {
    const int nr = static_cast<int>(std::min<int64_t>(2, s.B - r0));
    for (int r = 0; r < nr; ++r) rows[r] = s.q + (r0 + r) * 4 * s.G;
    const int8_t* panels = s.panels + p0 * s.G * 64;
    if (nr == 1) {
      np == 1 ? micro_avx2<1, 1>(rows, panels, s.G, acc) : micro_avx2<1, 2>(rows, panels, s.G, acc);
    } else {
      np == 1 ? micro_avx2<2, 1>(rows, panels, s.G, acc) : micro_avx2<2, 2>(rows, panels, s.G, acc);
    }
    for (int h = 0; h < 2 * np; ++h) {
      const int64_t n0 = p0 * kPanel + h * 8;
      if (n0 >= s.N) continue;
      const __m256i mask = first_lanes(s.N - n0);
      const __m256i comp = _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.colsum + n0)), 6);
      const __m256 wscale = _mm256_loadu_ps(s.wscale + n0);
      const __m256 bias = s.bias ? _mm256_maskload_ps(s.bias + n0, mask) : _mm256_setzero_ps();
      for (int r = 0; r < nr; ++r) {
        const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(s.rscale[r0 + r]), wscale);
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r * 2 * np + h], comp)), scale);
        if (s.bias) v = _mm256_add_ps(v, bias);
        _mm256_maskstore_ps(s.y + (r0 + r) * s.N + n0, mask, v);
      }
    }
  }
}

at::Tensor int8_linear(const at::Tensor& x, const at::Tensor& panels, const at::Tensor& colsum,
                       const at::Tensor& wscale, const c10::optional<at::Tensor>& bias, int64_t N, int64_t bits) {
  TORCH_CHECK(bits == 7 || (bits == 8 && vnni()),
              "flywheel::int8_linear: bits must be 7, or 8 on a CPU with AVX-512 VNNI (int8_linear_bits())");
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 2 && x.is_contiguous(),
              "x: a contiguous (B, K) float32 CPU tensor");
  const int64_t B = x.size(0), K = x.size(1), blocks = (N + kPanel - 1) / kPanel;
  TORCH_CHECK(panels.scalar_type() == at::kChar && panels.is_contiguous() && panels.dim() == 3 &&
                  panels.size(0) == blocks && panels.size(1) == (K + 3) / 4 && panels.size(2) == 64,
              "panels: (ceil(N / 16), ceil(K / 4), 64) int8, as flywheel.model.quant.int8_panels packs them");
  TORCH_CHECK(colsum.scalar_type() == at::kInt && colsum.is_contiguous() && colsum.numel() == blocks * kPanel,
              "colsum: (ceil(N / 16) * 16,) int32");
  TORCH_CHECK(wscale.scalar_type() == at::kFloat && wscale.is_contiguous() && wscale.numel() == blocks * kPanel,
              "wscale: (ceil(N / 16) * 16,) float32");
  // 255 * 127 * K must fit an int32 sum.
  TORCH_CHECK(K <= 65536, "flywheel::int8_linear: K = ", K, " is past the 65,536 inputs its int32 sums can hold");
  const float* b = nullptr;
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->scalar_type() == at::kFloat && bias->numel() == N && bias->is_contiguous(),
                "bias: (N,) float32");
    b = bias->data_ptr<float>();
  }
  const int64_t G = panels.size(1), K4 = 4 * G;
  auto q = at::empty({B, K4}, x.options().dtype(at::kByte));
  auto rscale = at::empty({B}, x.options());
  auto y = at::empty({B, N}, x.options());
  const float* xp = x.data_ptr<float>();
  uint8_t* qp = q.data_ptr<uint8_t>();
  float* sp = rscale.data_ptr<float>();
  const bool wide = bits == 8;
  at::parallel_for(0, B, 64, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      if (wide) {
        quantize_row_vnni(xp + r * K, K, K4, qp + r * K4, sp + r);
      } else {
        quantize_row_avx2(xp + r * K, K, K4, qp + r * K4, sp + r);
      }
    }
  });
  const Problem s{B, N, G, blocks, qp, sp, panels.data_ptr<int8_t>(), colsum.data_ptr<int32_t>(),
                  wscale.data_ptr<float>(), b, y.data_ptr<float>()};
  // A task: some panels for every row. VNNI: 8 panels (128 outputs) for one row, 4 for more; AVX2: 2.
  const int P = !wide ? 2 : B == 1 ? 8 : 4;
  const int64_t tasks = (blocks + P - 1) / P;
  at::parallel_for(0, tasks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int np = static_cast<int>(std::min<int64_t>(P, blocks - t * P));
      if (wide) {
        run_panels_vnni(s, t * P, np);
      } else {
        run_panels_avx2(s, t * P, np);
      }
    }
  });
  return y;
}

int64_t int8_linear_bits() { return vnni() ? 8 : 7; }

}  // namespace

TORCH_LIBRARY_FRAGMENT(flywheel, m) {
  m.def("int8_linear(Tensor x, Tensor panels, Tensor colsum, Tensor wscale, Tensor? bias, int n, int bits) -> Tensor");
  m.impl("int8_linear", c10::DispatchKey::CPU, TORCH_FN(int8_linear));
  m.def("int8_linear_bits() -> int", &int8_linear_bits);
}
