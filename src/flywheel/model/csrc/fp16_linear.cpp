// A decode step's Linear layers over float16 weights: y = x W^T + b, float32 in and out, on x86-64
// with AVX2, FMA and F16C. Built with decode_attention.cpp into one extension (flywheel/model/kernels.py).
//
// A decode step multiplies a few rows by each weight matrix. At one row fbgemm's float16 kernel
// (made for wide products) took about 20 us for a 256 x 768 matrix here, where reading its 384 kB
// takes a few; this kernel reads the weights once, as they are.
//
// The weights come in panels of 8 outputs (`pack`: (ceil(N / 8), K, 8), outputs past N zero), so
// that one 8-lane vector holds one k of 8 outputs. Every output is one chain of fused multiply-adds
// over k = 0, 1, ..., K - 1, then the bias: a fixed order, whatever the rows, their number, the
// micro-kernel shape or the thread count. So a row's result never depends on its batch, and the
// engine's batched greedy outputs stay equal to the same request run alone. One row runs 8 panels
// at once (8 independent chains keep the FMA units busy while the weights stream in); several rows
// run 4 rows by 2 panels, so each float16 load serves 4 rows.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>

#if !defined(__x86_64__) || !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "flywheel's fp16 linear kernel is x86-64 AVX2 + FMA + F16C code; kernels.py builds it only there"
#endif
#include <immintrin.h>

namespace {

// R rows by P panels: out[r][p * 8 + lane] = sum over k of x[r][k] * panel p's (k, lane), in k order.
template <int R, int P>
inline void micro(const float* const* x, const uint16_t* panels, int64_t K, __m256* out) {
  __m256 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m256 w[P];
    for (int p = 0; p < P; ++p)
      w[p] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(panels + (p * K + k) * 8)));
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_broadcast_ss(x[r] + k);
      for (int p = 0; p < P; ++p) acc[r][p] = _mm256_fmadd_ps(xv, w[p], acc[r][p]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) out[r * P + p] = acc[r][p];
}

template <int R>
void micro_panels(int P, const float* const* x, const uint16_t* panels, int64_t K, __m256* out) {
  switch (P) {
    case 1: micro<R, 1>(x, panels, K, out); break;
    case 2: micro<R, 2>(x, panels, K, out); break;
    case 3: micro<R, 3>(x, panels, K, out); break;
    case 4: micro<R, 4>(x, panels, K, out); break;
    case 5: micro<R, 5>(x, panels, K, out); break;
    case 6: micro<R, 6>(x, panels, K, out); break;
    case 7: micro<R, 7>(x, panels, K, out); break;
    default: micro<R, 8>(x, panels, K, out); break;
  }
}

void run(int R, int P, const float* const* x, const uint16_t* panels, int64_t K, __m256* out) {
  switch (R) {
    case 1: micro_panels<1>(P, x, panels, K, out); break;
    case 2: micro_panels<2>(P, x, panels, K, out); break;
    case 3: micro_panels<3>(P, x, panels, K, out); break;
    default: micro_panels<4>(P, x, panels, K, out); break;
  }
}

at::Tensor fp16_linear(const at::Tensor& x, const at::Tensor& panels, const c10::optional<at::Tensor>& bias,
                       int64_t N) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 2 && x.is_contiguous(),
              "x: a contiguous (B, K) float32 CPU tensor");
  const int64_t B = x.size(0), K = x.size(1), blocks = (N + 7) / 8;
  TORCH_CHECK(panels.scalar_type() == at::kHalf && panels.is_contiguous() && panels.dim() == 3 &&
                  panels.size(0) == blocks && panels.size(1) == K && panels.size(2) == 8,
              "panels: (ceil(N / 8), K, 8) float16, as flywheel.model.quant.fp16_panels packs them");
  const float* b = nullptr;
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->scalar_type() == at::kFloat && bias->numel() == N && bias->is_contiguous(),
                "bias: (N,) float32");
    b = bias->data_ptr<float>();
  }
  auto y = at::empty({B, N}, x.options());
  const float* xp = x.data_ptr<float>();
  const uint16_t* wp = reinterpret_cast<const uint16_t*>(panels.data_ptr<at::Half>());
  float* yp = y.data_ptr<float>();
  // One row: 8 panels a task (64 outputs); more rows: 2 panels a task, every row through them.
  const int P = B == 1 ? 8 : 2;
  const int64_t tasks = (blocks + P - 1) / P;
  at::parallel_for(0, tasks, 1, [&](int64_t lo, int64_t hi) {
    __m256 out[32];
    float lanes[8];
    const float* rows[4];
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t p0 = t * P;
      const int np = static_cast<int>(std::min<int64_t>(P, blocks - p0));
      for (int64_t r0 = 0; r0 < B; r0 += 4) {
        const int nr = static_cast<int>(std::min<int64_t>(4, B - r0));
        for (int r = 0; r < nr; ++r) rows[r] = xp + (r0 + r) * K;
        run(nr, np, rows, wp + p0 * K * 8, K, out);
        for (int r = 0; r < nr; ++r) {
          float* yr = yp + (r0 + r) * N;
          for (int p = 0; p < np; ++p) {
            _mm256_storeu_ps(lanes, out[r * np + p]);
            const int64_t n0 = (p0 + p) * 8;
            for (int64_t j = 0; j < 8 && n0 + j < N; ++j) yr[n0 + j] = b ? lanes[j] + b[n0 + j] : lanes[j];
          }
        }
      }
    }
  });
  return y;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(flywheel, m) {
  m.def("fp16_linear(Tensor x, Tensor panels, Tensor? bias, int n) -> Tensor");
  m.impl("fp16_linear", c10::DispatchKey::CPU, TORCH_FN(fp16_linear));
}
