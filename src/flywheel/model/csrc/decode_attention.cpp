// One-token (decode-step) attention over a float32 or float16 KV cache, on the CPU: the
// flywheel::decode_attention op.
//
// Row b, head h: this step's key and value into the cache at position last[b], then
// softmax(q[b, h] . k[b, h, j] * scale) over j = 0..last[b] and the weighted sum of v[b, h, j].
// Each row reads only its own positions, with no mask (a shared prefix from one copy: see below), and
// every (row, head) is one serial pass in a fixed order: a row's result never depends on what else
// shares its batch, or on the thread count.
// Built by flywheel/model/kernels.py (torch's C++ extension loader); flywheel/model/decode.py says why.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

#if !defined(__AVX2__) || !defined(__FMA__)
#error "built for x86-64 with AVX2 and FMA only (flywheel/model/kernels.py passes -mavx2 -mfma)"
#endif
#include <immintrin.h>

namespace {

// Work below this many cached values (keys and values of every (row, head), each head_dim wide)
// runs on the calling thread, work above it on torch's threads. Where the line lies mattered little
// on 2 cores (bench preset, fp16 steps of 1-8 rows: 1 << 14, 1 << 16 and always splitting were
// within noise of each other; 1 << 19 was 3-12% slower at 1-4 rows), so only tiny steps stay serial.
constexpr int64_t kSerialValues = 1 << 16;

// The two inner loops, q . k and out += p * v, each with one fixed order of float operations: the
// same arithmetic whatever the compiler makes of the code around them (at -O3 it versioned a plain
// loop by where its keys came from, and reassociating a reduction then moved results by an ulp), so
// a row's logits never depend on its batch or its prefix slot.
constexpr int64_t kLanes = 8;

// Cached values are float32, or float16 widened on load (F16C): exact either way.
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const at::Half* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

template <typename T>
inline float dot(const float* q, const T* k, int64_t D) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();  // two chains: half the FMA latency
  int64_t d = 0;
  for (; d + 2 * kLanes <= D; d += 2 * kLanes) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(k + d), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + kLanes), load8(k + d + kLanes), a1);
  }
  if (d + kLanes <= D) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(k + d), a0);
    d += kLanes;
  }
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
  x = _mm_add_ps(x, _mm_add_ps(_mm256_castps256_ps128(a1), _mm256_extractf128_ps(a1, 1)));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
  float s = _mm_cvtss_f32(x);
  for (; d < D; ++d) s = std::fma(q[d], static_cast<float>(k[d]), s);  // a head_dim that is not a multiple of 8
  return s;
}

template <typename T>
inline void axpy(float p, const T* v, float* out, int64_t D) {
  const __m256 pp = _mm256_set1_ps(p);
  int64_t d = 0;
  for (; d + kLanes <= D; d += kLanes) {
    _mm256_storeu_ps(out + d, _mm256_fmadd_ps(pp, load8(v + d), _mm256_loadu_ps(out + d)));
  }
  for (; d < D; ++d) out[d] = std::fma(p, static_cast<float>(v[d]), out[d]);
}

// One (row, head): scores over positions 0..n-1, the first m of them read from the shared prefix's
// keys and values (pk, pv) and the rest from the row's own (k, v); a softmax; the weighted values.
template <typename T>
void attend_one(const float* q, const T* pk, const T* pv, const T* k, const T* v, int64_t m,
                int64_t n, int64_t D, int64_t k_step, int64_t v_step, float scale, float* scores, float* out) {
  float top = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    const float s = dot(q, (j < m ? pk : k) + j * k_step, D) * scale;
    scores[j] = s;
    top = std::max(top, s);
  }
  float total = 0.f;
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = std::exp(scores[j] - top);
    total += scores[j];
  }
  std::fill(out, out + D, 0.f);
  for (int64_t j = 0; j < n; ++j) {
    axpy(scores[j], (j < m ? pv : v) + j * v_step, out, D);
  }
  const float inv = 1.f / total;
  for (int64_t d = 0; d < D; ++d) out[d] *= inv;
}

// The writes and the attention of every (row, head), split across torch's threads.
template <typename T>
void attend_all(const at::Tensor& qkv, at::Tensor& k, at::Tensor& v, const int64_t* last, int64_t longest,
                double scale, at::Tensor& out) {
  const int64_t B = qkv.size(0), H = qkv.size(2), D = qkv.size(3);
  T* kp = k.data_ptr<T>();
  T* vp = v.data_ptr<T>();
  const int64_t* prefix_slot = last + B;
  const int64_t* prefix_len = last + 2 * B;
  const float* xp = qkv.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const int64_t xs0 = qkv.stride(0), xs1 = qkv.stride(1), xs2 = qkv.stride(2);
  const int64_t ks0 = k.stride(0), ks1 = k.stride(1), ks2 = k.stride(2);
  const int64_t vs0 = v.stride(0), vs1 = v.stride(1), vs2 = v.stride(2);
  const float fscale = static_cast<float>(scale);
  const int64_t per_head = 2 * longest * D;
  const int64_t grain = B * H * per_head < kSerialValues ? B * H + 1 : std::max<int64_t>(1, kSerialValues / 8 / per_head);
  at::parallel_for(0, B * H, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(longest);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / H, h = i % H;
      const float* x = xp + b * xs0 + h * xs2;  // the query; + xs1: the new key, + 2 * xs1: the new value
      T* kr = kp + b * ks0 + h * ks1;
      T* vr = vp + b * vs0 + h * vs1;
      std::transform(x + xs1, x + xs1 + D, kr + last[b] * ks2, [](float f) { return static_cast<T>(f); });
      std::transform(x + 2 * xs1, x + 2 * xs1 + D, vr + last[b] * vs2, [](float f) { return static_cast<T>(f); });
      const int64_t m = prefix_len[b], p = m ? prefix_slot[b] : b;
      attend_one(x, kp + p * ks0 + h * ks1, vp + p * vs0 + h * vs1, kr, vr, m, last[b] + 1, D, ks2, vs2, fscale,
                 scores.data(), op + i * D);
    }
  });
}

// qkv (B, 3, H, D) float32: each row's query, new key and new value (the fused projection as it is);
// k and v (N, H, S, D), one layer's cache over every slot, unit stride on D, float32 or float16 (the
// new key and value rounded to nearest even, as torch's conversion rounds, so a prefill's writes and
// a step's agree); row b lives in slot b. rows (3, B) int64: each row's newest position (in [0, S)),
// the slot that holds its shared prefix, and that prefix's length (0: none; else below the newest
// position). Writes each row's new
// key and value into its slot at its newest position, then attends: returns (B, H, D) float32.
// The prefix slot and the row's own slot hold the same values there (the engine copied them): reading
// the one copy for every row that shares it keeps those bytes in the CPU's caches, where reading
// each row's copy streamed them all from memory.
at::Tensor decode_attention(const at::Tensor& qkv, at::Tensor& k, at::Tensor& v, const at::Tensor& rows,
                            double scale) {
  TORCH_CHECK(qkv.device().is_cpu() && k.device().is_cpu() && v.device().is_cpu() && rows.device().is_cpu(),
              "decode_attention runs on the CPU");
  TORCH_CHECK(qkv.dim() == 4 && qkv.size(1) == 3 && k.dim() == 4 && v.dim() == 4,
              "decode_attention: qkv (B, 3, H, D), k and v (N, H, S, D)");
  TORCH_CHECK(qkv.scalar_type() == at::kFloat, "decode_attention: qkv must be float32");
  TORCH_CHECK((k.scalar_type() == at::kFloat || k.scalar_type() == at::kHalf) && v.scalar_type() == k.scalar_type(),
              "decode_attention: k and v must be both float32 or both float16");
  const int64_t B = qkv.size(0), H = qkv.size(2), D = qkv.size(3), N = k.size(0), S = k.size(2);
  TORCH_CHECK(k.sizes() == v.sizes() && k.size(1) == H && k.size(3) == D && N >= B,
              "decode_attention: k and v must be (N, H, S, D), N >= B, for qkv (B, 3, H, D)");
  TORCH_CHECK(qkv.stride(3) == 1 && k.stride(3) == 1 && v.stride(3) == 1,
              "decode_attention: head_dim must be contiguous");
  TORCH_CHECK(rows.scalar_type() == at::kLong && rows.dim() == 2 && rows.size(0) == 3 && rows.size(1) == B,
              "decode_attention: rows must be (3, B) int64");
  const at::Tensor rows_c = rows.contiguous();
  const int64_t* last = rows_c.data_ptr<int64_t>();
  const int64_t* prefix_slot = last + B;
  const int64_t* prefix_len = last + 2 * B;
  int64_t longest = 0;
  for (int64_t b = 0; b < B; ++b) {
    TORCH_CHECK(last[b] >= 0 && last[b] < S, "decode_attention: row ", b, "'s position ", last[b],
                " is outside the cache's ", S, " positions");
    TORCH_CHECK(prefix_len[b] >= 0 && prefix_len[b] <= last[b], "decode_attention: row ", b,
                "'s prefix of ", prefix_len[b], " positions reaches its newest position");
    TORCH_CHECK(prefix_len[b] == 0 || (prefix_slot[b] >= 0 && prefix_slot[b] < N), "decode_attention: row ",
                b, "'s prefix slot ", prefix_slot[b], " is outside the cache's ", N, " slots");
    longest = std::max(longest, last[b] + 1);
  }
  at::Tensor out = at::empty({B, H, D}, qkv.options().memory_format(at::MemoryFormat::Contiguous));
  if (k.scalar_type() == at::kHalf) {
    attend_all<at::Half>(qkv, k, v, last, longest, scale, out);
  } else {
    attend_all<float>(qkv, k, v, last, longest, scale, out);
  }
  return out;
}

}  // namespace

TORCH_LIBRARY(flywheel, m) {
  m.def("decode_attention(Tensor qkv, Tensor(a!) k, Tensor(b!) v, Tensor rows, float scale) -> Tensor");
  m.impl("decode_attention", c10::DispatchKey::CPU, TORCH_FN(decode_attention));
}
